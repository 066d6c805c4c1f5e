import uuid

from django.conf import settings
from django.db import models

from catalog.models import BookFormat, private_storage


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


class ReleaseText(models.Model):
    """A release's text, read out of its EPUB once (``library.reader.index_release``):
    the row says it was read, its chapters are ``ReleaseChapter`` rows. ``error``
    says why a release has none (no EPUB, or one we could not read)."""

    release = models.OneToOneField(
        "catalog.Release", on_delete=models.CASCADE, related_name="reader_text"
    )
    error = models.CharField(max_length=300, blank=True)
    indexed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"Text of {self.release}"


class ReleaseChapter(models.Model):
    """One chapter of a release as readers read it online: sanitised HTML, its
    title, and a digest of its content (with its images) to tell what changed."""

    release = models.ForeignKey(
        "catalog.Release", on_delete=models.CASCADE, related_name="reader_chapters"
    )
    number = models.PositiveIntegerField(help_text="Reading order, from 1.")
    title = models.CharField(max_length=300)
    part = models.CharField(max_length=300, blank=True)
    href = models.CharField(max_length=500, help_text="The document's path inside the EPUB.")
    html = models.TextField()
    digest = models.CharField(max_length=64)

    class Meta:
        ordering = ["release", "number"]
        constraints = [
            models.UniqueConstraint(fields=["release", "number"], name="releasechapter_unique")
        ]

    def __str__(self):
        return f"{self.release} · {self.number}. {self.title}"


class ReadingPosition(models.Model):
    """Where a reader is in a book: the chapter they last opened online. Kept by
    number and title, so a new release brings them back to the same chapter."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reading_positions"
    )
    book = models.ForeignKey("catalog.Book", on_delete=models.CASCADE, related_name="+")
    chapter_number = models.PositiveIntegerField()
    chapter_title = models.CharField(max_length=300)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "book"], name="readingposition_unique")
        ]

    def __str__(self):
        return f"{self.user} at {self.chapter_number} of {self.book}"


class EreaderAddress(models.Model):
    """A reader's Kindle or e-reader address, usable once verified by a code
    e-mailed to it. Only a digest of the code is kept."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ereader_address"
    )
    email = models.EmailField()
    verified_at = models.DateTimeField(null=True, blank=True)
    code_digest = models.CharField(max_length=64, blank=True)
    code_expires_at = models.DateTimeField(null=True, blank=True)
    code_attempts = models.PositiveSmallIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"E-reader of {self.user}: {self.email}"

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None


def stamped_file_path(instance, filename):
    # A generated name: neither the reader's name nor a guessable path reaches storage.
    return f"stamped/{instance.book_id}/{instance.release_id}/{uuid.uuid4().hex}.{instance.format}"


class StampedFile(models.Model):
    """One owner's copy of one file of a release, stamped with their name (social DRM).

    One row per (release, reader, format), created before the work so a retried or
    redelivered task finds it: ``pending`` → ``stamping`` (claimed by one task, with
    ``claimed_at`` and ``claimed_by``) → ``ready`` (``file`` written) or ``failed``.
    library/stamping.py is the only writer.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        STAMPING = "stamping", "Stamping"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    release = models.ForeignKey("catalog.Release", on_delete=models.CASCADE, related_name="+")
    book = models.ForeignKey("catalog.Book", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="stamped_files"
    )
    format = models.CharField(max_length=8, choices=BookFormat.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    file = models.FileField(
        upload_to=stamped_file_path, storage=private_storage, blank=True, max_length=200
    )
    size = models.PositiveBigIntegerField(default=0)
    order_ref = models.UUIDField(null=True, blank=True, help_text="The order in the stamp.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["release", "user", "format"], name="stampedfile_one_per_reader"
            )
        ]
        indexes = [
            models.Index(fields=["user", "book"]),
            models.Index(fields=["release", "status"]),
        ]

    def __str__(self):
        return f"{self.release} {self.format} for user {self.user_id} ({self.status})"
