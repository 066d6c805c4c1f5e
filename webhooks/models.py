"""An author's endpoints, the events that happened to them, and each event's delivery."""

import uuid

from django.db import models
from django.urls import reverse


class EventType(models.TextChoices):
    # gift.claimed joins when gifts exist (a later issue).
    SALE_COMPLETED = "sale.completed", "A sale completed"
    REFUND_COMPLETED = "refund.completed", "A sale was refunded"
    RELEASE_PUBLISHED = "release.published", "A new version was published"
    PAYOUT_SENT = "payout.sent", "A payout was sent"


def new_message_id() -> str:
    return f"msg_{uuid.uuid4().hex}"


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


class Endpoint(models.Model):
    """An HTTPS URL of an author's that wants some of their events, signed with its secret.

    ``previous_secret`` still signs (beside ``secret``) until ``previous_secret_until``,
    so a receiver can switch secrets without missing a delivery."""

    author = models.ForeignKey(
        "catalog.Author", on_delete=models.CASCADE, related_name="webhook_endpoints"
    )
    url = models.URLField("URL", max_length=500)
    description = models.CharField(max_length=120, blank=True)
    event_types = models.JSONField(default=list)
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # The first failure since the last success; None while the endpoint answers.
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.url

    def get_absolute_url(self):
        return reverse("webhooks:endpoint", args=[self.pk])

    def wants(self, event_type: str) -> bool:
        return self.enabled and event_type in self.event_types


class Event(models.Model):
    """Something that happened to one author, once: ``key`` names the thing
    (``order-12``), so a second notice of the same change adds nothing."""

    public_id = models.CharField(max_length=40, unique=True, default=new_event_id, editable=False)
    author = models.ForeignKey(
        "catalog.Author", on_delete=models.CASCADE, related_name="webhook_events"
    )
    type = models.CharField(max_length=40, choices=EventType.choices)
    key = models.CharField(max_length=100)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["author", "type", "key"], name="webhook_event_once")
        ]

    def __str__(self):
        return f"{self.type} {self.public_id}"


class Delivery(models.Model):
    """One event for one endpoint: the message (``message_id`` is the webhook-id,
    the same on every attempt) and where its sending stands."""

    class Status(models.TextChoices):
        PENDING = "pending", "Waiting to be sent"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Gave up"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="deliveries")
    message_id = models.CharField(
        max_length=40, unique=True, default=new_message_id, editable=False
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    # When the next attempt is due (pending only); retries back off from here.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # Retries stop after this (WEBHOOKS_RETRY_FOR after the first or a resend).
    retry_until = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=200, blank=True)
    last_status_code = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="webhook_delivery_once")
        ]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_due")]

    def __str__(self):
        return self.message_id


class Attempt(models.Model):
    """One HTTP request of a delivery, as the delivery log shows it."""

    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    at = models.DateTimeField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    response_excerpt = models.TextField(blank=True)
    error = models.CharField(max_length=300, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="webhook_attempt_once")
        ]

    def __str__(self):
        return f"{self.delivery_id} #{self.number}"

    @property
    def succeeded(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300
