from django.db import models


class EmailDelivery(models.Model):
    """One e-mail to send, exactly once: an outbox row.

    ``key`` says what the e-mail is for ("receipt:order-12",
    "new-version:release-5:user-9"), so asking twice for the same e-mail
    creates nothing new. The sending task claims the row before talking to
    the SMTP server and marks it sent after, so a retried task never sends
    twice, and a failure leaves the row to retry (nothing is lost).
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed (gave up)"

    key = models.CharField(max_length=200, unique=True)
    to = models.EmailField()
    subject = models.CharField(max_length=300)
    body = models.TextField()
    html = models.TextField(blank=True)
    headers = models.JSONField(default=dict, blank=True)
    # Files to attach when sending (``outbox.attach``): [{"filename", "mimetype",
    # "storage" + "name"}] read from a storage at send time (a book is not copied
    # into the table), or [{"filename", "mimetype", "content_b64"}] for small ones.
    attachments = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    # Who holds the claim: the sending task's id. Its redelivery (the worker died
    # mid-send) takes the claim over; any other task waits for CLAIM_TIMEOUT.
    claimed_by = models.CharField(max_length=64, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "e-mail deliveries"
        indexes = [models.Index(fields=["status", "created_at"])]

    def __str__(self):
        return f"{self.key} to {self.to} ({self.status})"
