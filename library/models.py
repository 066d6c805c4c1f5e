from django.conf import settings
from django.db import models


class EntitlementQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class Entitlement(models.Model):
    """A reader owns a book: every current and future release of it.

    Granted when an order is paid (any amount, $0 included) and revoked when it is
    refunded; a revoked row is kept (history) and re-activated by a new purchase.
    ``order_ref`` and ``refundable_until`` are what the payments app told us when it
    granted the book, so the library can link to the receipt and the refund without
    importing payments.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="entitlements"
    )
    book = models.ForeignKey("catalog.Book", on_delete=models.PROTECT, related_name="entitlements")
    granted_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    order_ref = models.UUIDField(
        null=True, blank=True, help_text="The order that granted the book."
    )
    refundable_until = models.DateTimeField(null=True, blank=True)
    last_downloaded_release = models.ForeignKey(
        "catalog.Release", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_downloaded_at = models.DateTimeField(null=True, blank=True)
    notify_updates = models.BooleanField(
        default=True, help_text="E-mail me when a new version is out."
    )

    objects = EntitlementQuerySet.as_manager()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "book"], name="entitlement_unique")]
        indexes = [
            models.Index(fields=["user", "-granted_at"]),
            models.Index(fields=["book", "revoked_at"]),
        ]

    def __str__(self):
        return f"{self.user} owns {self.book}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def update_marker(self) -> str:
        """What the library says about a newer version than the reader has seen."""
        current = self.book.current_release
        if current is None or current.pk == self.last_downloaded_release_id:
            return ""
        if self.last_downloaded_release_id:
            return "Updated since you last downloaded"
        if current.published_at and current.published_at > self.granted_at:
            return "Updated since you got it"
        return ""


class ReaderPreference(models.Model):
    """A reader's library-wide choices (one row per reader, created when first changed)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reader_preference"
    )
    new_version_emails = models.BooleanField(
        default=True, help_text="E-mail me about new versions of my books."
    )

    def __str__(self):
        return f"Preferences of {self.user}"


class ReleaseAnnouncement(models.Model):
    """That a release's "new version" e-mails were fanned out: a double publish
    or a retried task finds this row and e-mails nobody twice."""

    release = models.OneToOneField(
        "catalog.Release", on_delete=models.CASCADE, related_name="announcement"
    )
    started_at = models.DateTimeField(auto_now_add=True)
    recipients = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Announcement of {self.release}"
