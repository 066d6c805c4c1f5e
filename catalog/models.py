import uuid
from pathlib import Path

from django.conf import settings
from django.conf.global_settings import LANGUAGES
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property

from core.money import MIN_PAID_PRICE_CENTS

from . import files

LANGUAGE_CHOICES = sorted(LANGUAGES, key=lambda item: item[1])
LANGUAGE_NAMES = dict(LANGUAGES)


# Uploaded file names never reach the file system: a random name, and an extension
# from this list only (the one matching the content: book files by their checked
# format, pictures by the format catalog.images wrote them in).
SAFE_SUFFIXES = {".pdf", ".epub", ".png", ".jpg", ".jpeg", ".gif", ".webp"}


def _generated_name(folder: str, filename: str) -> str:
    suffix = Path(filename).suffix.lower()
    return f"{folder}/{uuid.uuid4().hex}{suffix if suffix in SAFE_SUFFIXES else '.bin'}"


def author_photo_path(instance, filename):
    return _generated_name("authors", filename)


def book_cover_path(instance, filename):
    return _generated_name("covers", filename)


def release_file_path(instance, filename):
    return _generated_name(f"releases/{instance.release.book_id}", f"file.{instance.format}")


def sample_file_path(instance, filename):
    return _generated_name(f"samples/{instance.book_id}", f"file.{instance.format}")


def private_storage():
    """The storage of book files (no public URL); migrations name this function."""
    return files.private_storage


class Author(models.Model):
    """A user's public author profile; having one is what makes a user an author."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="author_profile"
    )
    display_name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    bio = models.TextField(blank=True, help_text="Markdown. Shown on your books and author page.")
    photo = models.ImageField(upload_to=author_photo_path, blank=True)
    # "E-mail the author" (catalog/contact.py): readers may write through the store.
    accepts_messages = models.BooleanField(
        "Readers may e-mail me through the store",
        default=True,
        help_text="Your address is never shown; messages reach you by e-mail.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["display_name"]

    def __str__(self):
        return self.display_name

    def get_absolute_url(self):
        return reverse("catalog:author", kwargs={"slug": self.slug})


class Category(models.Model):
    name = models.CharField(max_length=80, unique=True)
    slug = models.SlugField(max_length=90, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self):
        return self.name


LISTED = ["in_progress", "completed"]  # Book.LISTED_STATUSES, for index conditions


class BookQuerySet(models.QuerySet):
    def listed(self):
        """Books the public catalog shows: in progress or completed."""
        return self.filter(status__in=Book.LISTED_STATUSES)

    def visible_to(self, user):
        """Listed books, plus drafts/retired books of the user's own (or any, for staff)."""
        if user.is_authenticated and user.is_staff:
            return self.all()
        if user.is_authenticated and hasattr(user, "author_profile"):
            return self.filter(Q(status__in=Book.LISTED_STATUSES) | Q(authors=user.author_profile))
        return self.listed()

    def with_authors(self):
        return self.prefetch_related(
            models.Prefetch(
                "authorships",
                queryset=BookAuthor.objects.select_related("author").order_by("position", "id"),
            )
        )


class Book(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        IN_PROGRESS = "in_progress", "In progress (early access)"
        COMPLETED = "completed", "Completed"
        RETIRED = "retired", "Retired"

    LISTED_STATUSES = (Status.IN_PROGRESS, Status.COMPLETED)

    slug = models.SlugField(max_length=140, unique=True, help_text="The book's address; stable.")
    title = models.CharField(max_length=200)
    subtitle = models.CharField(max_length=300, blank=True)
    blurb = models.TextField(blank=True, help_text="The short pitch under the title (Markdown).")
    about = models.TextField(blank=True, help_text="About the book (Markdown).")
    cover = models.ImageField(upload_to=book_cover_path, blank=True)
    language = models.CharField(max_length=12, choices=LANGUAGE_CHOICES, default="en")
    translation_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="translations",
        help_text="The original this book translates, if any.",
    )
    categories = models.ManyToManyField(Category, blank=True, related_name="books")
    authors = models.ManyToManyField(Author, through="BookAuthor", related_name="books")

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    installments_completed = models.PositiveSmallIntegerField(default=0)
    installments_planned = models.PositiveSmallIntegerField(default=0)
    early_access_note = models.TextField(
        blank=True, help_text="While in progress: what is done and what is coming (Markdown)."
    )

    currency = models.CharField(max_length=3, default="USD")
    minimum_price_cents = models.PositiveIntegerField(default=0)
    suggested_price_cents = models.PositiveIntegerField(default=0)
    # Team licences (payments/team_licences.py): offered at all, and the discount on
    # the suggested price per seat (never below the minimum).
    team_licences = models.BooleanField(
        default=False, help_text="Sell seats for teams: one payment for several readers."
    )
    team_seat_discount_percent = models.PositiveSmallIntegerField(
        default=0,
        validators=[MaxValueValidator(90)],
        help_text="Discount per seat on the suggested price, 0–90%.",
    )

    # Set from the current release's files when it is published, not typed by authors.
    page_count = models.PositiveIntegerField(null=True, blank=True)
    word_count = models.PositiveIntegerField(null=True, blank=True)
    sample_markdown = models.TextField(
        blank=True, help_text="The free sample to read online (Markdown)."
    )
    featured = models.BooleanField(default=False)
    stamp_files = models.BooleanField(
        "Stamp files for buyers",
        default=False,
        help_text="Every owner's PDF and EPUB say “Prepared for <name> · <e-mail> · "
        "order <id>” (social DRM: no lock, only their name).",
    )
    # Paid orders, kept by the payments app so "bestsellers" needs no join.
    sales_count = models.PositiveIntegerField(default=0, editable=False)

    current_release = models.ForeignKey(
        "Release", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_at = models.DateTimeField(null=True, blank=True)

    objects = BookQuerySet.as_manager()

    class Meta:
        ordering = ["-published_at", "-id"]
        indexes = [
            # The catalog's lists walk these in order and stop at the page size.
            models.Index(
                fields=["-published_at", "-id"],
                condition=Q(status__in=LISTED),
                name="book_listed_newest",
            ),
            models.Index(
                fields=["-sales_count", "-published_at"],
                condition=Q(status__in=LISTED),
                name="book_listed_bestselling",
            ),
            models.Index(
                fields=["-updated_at"],
                condition=Q(status="in_progress"),
                name="book_in_progress_updated",
            ),
            models.Index(fields=["language", "status"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(minimum_price_cents=0)
                | Q(minimum_price_cents__gte=MIN_PAID_PRICE_CENTS),
                name="book_minimum_price_valid",
            ),
            models.CheckConstraint(
                condition=Q(suggested_price_cents__gte=models.F("minimum_price_cents")),
                name="book_suggested_at_least_minimum",
            ),
            models.CheckConstraint(
                condition=Q(installments_completed__lte=models.F("installments_planned"))
                | Q(installments_planned=0),
                name="book_installments_in_range",
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("catalog:book", kwargs={"slug": self.slug})

    def clean(self):
        if self.translation_of_id and self.translation_of_id == self.pk:
            raise ValidationError({"translation_of": "A book cannot be a translation of itself."})

    @property
    def is_listed(self) -> bool:
        return self.status in self.LISTED_STATUSES

    @property
    def is_in_progress(self) -> bool:
        return self.status == self.Status.IN_PROGRESS

    @property
    def is_free(self) -> bool:
        return self.minimum_price_cents == 0 and self.suggested_price_cents == 0

    @property
    def language_name(self) -> str:
        return LANGUAGE_NAMES.get(self.language, self.language)

    @cached_property
    def author_list(self) -> list["Author"]:
        """Authors in credit order; uses the with_authors() prefetch when present."""
        return [a.author for a in self.authorships.all()]

    def is_authored_by(self, user) -> bool:
        return user.is_authenticated and any(a.user_id == user.pk for a in self.author_list)


class BookAuthor(models.Model):
    """Co-authorship: who wrote the book and their share of its royalties."""

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="authorships")
    author = models.ForeignKey(Author, on_delete=models.PROTECT, related_name="authorships")
    royalty_share = models.PositiveSmallIntegerField(
        default=100, help_text="Percent of the book's royalties; co-authors' shares sum to 100."
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["book", "author"], name="bookauthor_unique"),
            models.CheckConstraint(
                condition=Q(royalty_share__gte=1, royalty_share__lte=100),
                name="bookauthor_share_range",
            ),
        ]

    def __str__(self):
        return f"{self.author} on {self.book} ({self.royalty_share}%)"


class TocEntry(models.Model):
    """One line of the table of contents: a preface, a part, or a chapter (maybe in a part)."""

    class Kind(models.TextChoices):
        PART = "part", "Part"
        CHAPTER = "chapter", "Chapter"

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="toc_entries")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.CHAPTER)
    title = models.CharField(max_length=300)
    in_part = models.BooleanField(default=False, help_text="A chapter inside the part above it.")
    in_sample = models.BooleanField(default=False)

    class Meta:
        ordering = ["book", "position"]
        verbose_name_plural = "table of contents entries"
        constraints = [
            models.UniqueConstraint(fields=["book", "position"], name="tocentry_position_unique")
        ]

    def __str__(self):
        return self.title


class Release(models.Model):
    """A version of a book's files. The published one that is newest is current."""

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="releases")
    version = models.CharField(max_length=40)
    notes = models.TextField(blank=True, help_text="What changed (Markdown); e-mailed to readers.")
    # Counted from the files (catalog.counts); publishing copies them onto the book.
    page_count = models.PositiveIntegerField(null=True, blank=True, editable=False)
    word_count = models.PositiveIntegerField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-published_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["book", "version"], name="release_version_unique")
        ]

    def __str__(self):
        return f"{self.book} v{self.version}"

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class BookFormat(models.TextChoices):
    PDF = "pdf", "PDF"
    EPUB = "epub", "EPUB"


CONTENT_TYPES = {BookFormat.PDF: "application/pdf", BookFormat.EPUB: "application/epub+zip"}


class ReleaseFile(models.Model):
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="files")
    format = models.CharField(max_length=8, choices=BookFormat.choices)
    file = models.FileField(upload_to=release_file_path, storage=private_storage, max_length=200)
    size = models.PositiveBigIntegerField(default=0)
    # Owners' downloads, counted by the library app for the author's stats.
    download_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["format"]
        constraints = [
            models.UniqueConstraint(fields=["release", "format"], name="releasefile_format_unique")
        ]

    def __str__(self):
        return f"{self.release} {self.get_format_display()}"


class SampleFile(models.Model):
    """The free sample, downloadable by anyone."""

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="sample_files")
    format = models.CharField(max_length=8, choices=BookFormat.choices)
    file = models.FileField(upload_to=sample_file_path, storage=private_storage, max_length=200)
    size = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["format"]
        constraints = [
            models.UniqueConstraint(fields=["book", "format"], name="samplefile_format_unique")
        ]

    def __str__(self):
        return f"{self.book} sample {self.get_format_display()}"


def manuscript_image_path(instance, filename):
    return _generated_name(f"manuscripts/{instance.book_id}", filename)


def build_file_path(instance, filename):
    return _generated_name(f"builds/{instance.book_id}", filename)


class LiveChapterManager(models.Manager):
    """Chapters not in the trash: what every page, build and move sees."""

    def get_queryset(self):
        return super().get_queryset().filter(deleted_at__isnull=True)


class ManuscriptChapter(models.Model):
    """One chapter of a book written here, in Markdown.

    A deleted chapter goes to the trash (``deleted_at``) and can be restored for
    ``manuscript.CHAPTER_TRASH_DAYS``; ``objects`` (and ``book.manuscript_chapters``)
    never show it, ``with_deleted`` does.
    """

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="manuscript_chapters")
    position = models.PositiveIntegerField(default=0)
    part = models.CharField(max_length=200, blank=True, help_text="The part it belongs to, if any.")
    title = models.CharField(max_length=300)
    markdown = models.TextField(blank=True)
    in_sample = models.BooleanField(default=False, help_text="Part of the free sample.")
    source = models.CharField(max_length=200, blank=True, help_text="File name, when imported.")
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True, editable=False)

    objects = LiveChapterManager()
    with_deleted = models.Manager()  # noqa: DJ012 (ruff takes a plain Manager for a field)

    class Meta:
        ordering = ["position", "id"]
        base_manager_name = "with_deleted"

    def __str__(self):
        return self.title


class ManuscriptImage(models.Model):
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="manuscript_images")
    path = models.CharField(max_length=200, help_text='As referenced in Markdown: "images/x.png".')
    file = models.FileField(
        upload_to=manuscript_image_path, storage=private_storage, max_length=200
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["book", "path"], name="manuscriptimage_path_unique")
        ]

    def __str__(self):
        return self.path


class Build(models.Model):
    """Rendering a manuscript to PDF and EPUB: a preview, or a release to publish."""

    class Kind(models.TextChoices):
        PREVIEW = "preview", "Preview"
        PUBLISH = "publish", "Publish"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RENDERING = "rendering", "Rendering"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="builds")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    version = models.CharField(max_length=40, blank=True)
    notes = models.TextField(blank=True)
    step = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    message = models.CharField(max_length=400, blank=True)
    error = models.TextField(blank=True)
    error_source = models.CharField(max_length=200, blank=True)
    release = models.ForeignKey(
        Release, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    preview_pdf = models.FileField(
        upload_to=build_file_path, storage=private_storage, blank=True, max_length=200
    )
    preview_epub = models.FileField(
        upload_to=build_file_path, storage=private_storage, blank=True, max_length=200
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    rendering_since = models.DateTimeField(
        null=True, blank=True, help_text="When a worker claimed the build and began rendering."
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.get_kind_display()} of {self.book} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def percent(self) -> int:
        if self.status == self.Status.DONE:
            return 100
        return int(self.step * 100 / self.total) if self.total else 0


class Invitation(models.Model):
    """A change that needs another author's yes before it shows anywhere.

    ``coauthor``: join ``book`` as a co-author with ``royalty_share`` percent, taken
    from the inviter's own share; addressed to an e-mail address (whoever holds it,
    verified, on an author account, may accept). ``translation``: list ``book`` as a
    translation of ``original``; any author of the original may accept. Nothing is
    linked until accepted: ``Book.translation_of`` and ``BookAuthor`` rows are the
    accepted state, so books from before invitations existed stay as they were.
    """

    class Kind(models.TextChoices):
        COAUTHOR = "coauthor", "Co-author"
        TRANSLATION = "translation", "Translation"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"
        EXPIRED = "expired", "Expired"
        CANCELLED = "cancelled", "Cancelled"

    kind = models.CharField(max_length=12, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    token = models.CharField(max_length=64, unique=True, editable=False)
    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="invitations")
    original = models.ForeignKey(
        Book,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="translation_invitations",
        help_text="Translation links: the book ``book`` says it translates.",
    )
    email = models.EmailField(blank=True, help_text="Co-author invitations: the address invited.")
    royalty_share = models.PositiveSmallIntegerField(null=True, blank=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(
                    kind="coauthor",
                    original__isnull=True,
                    royalty_share__gte=1,
                    royalty_share__lte=99,
                )
                | (Q(kind="translation", original__isnull=False, royalty_share__isnull=True)),
                name="invitation_kind_fields",
            ),
            # One open invitation per address and book, one open translation link per book.
            models.UniqueConstraint(
                fields=["book", "email"],
                condition=Q(status="pending", kind="coauthor"),
                name="invitation_one_pending_per_address",
            ),
            models.UniqueConstraint(
                fields=["book"],
                condition=Q(status="pending", kind="translation"),
                name="invitation_one_pending_translation",
            ),
        ]

    def __str__(self):
        if self.kind == self.Kind.TRANSLATION:
            return f"{self.book} as a translation of {self.original} ({self.current_status})"
        return f"{self.email} on {self.book} ({self.current_status})"

    @property
    def is_expired(self) -> bool:
        return self.status == self.Status.PENDING and self.expires_at <= timezone.now()

    @property
    def current_status(self) -> str:
        """The status as of now: a pending invitation past its date is expired."""
        return self.Status.EXPIRED if self.is_expired else self.status


class BlockedSender(models.Model):
    """A reader an author does not take messages from ("E-mail the author")."""

    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="blocked_senders")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["author", "user"], name="blockedsender_unique")
        ]

    def __str__(self):
        return f"{self.author} blocks user {self.user_id}"


class BookDailyStats(models.Model):
    """A book's page views on one day (server's TIME_ZONE), copied from the cache's
    counters by ``catalog.stats.flush_views`` (Celery beat): the book page itself
    never writes to the database."""

    book = models.ForeignKey(Book, on_delete=models.CASCADE, related_name="daily_stats")
    day = models.DateField()
    views = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["book", "day"]
        verbose_name_plural = "book daily stats"
        constraints = [
            models.UniqueConstraint(fields=["book", "day"], name="bookdailystats_unique")
        ]

    def __str__(self):
        return f"{self.book_id} on {self.day}: {self.views} views"


def bundle_cover_path(instance, filename):
    return _generated_name("bundles", filename)


class Bundle(models.Model):
    """Several books sold together at the bundle's own price range and page.

    Listed only when every author of every included book has consented
    (``BundleConsent``) and every included book is listed: catalog/bundles.py
    holds that rule. How a sale is split across the books lives in
    payments/bundle_pricing.py.
    """

    slug = models.SlugField(max_length=140, unique=True, help_text="The bundle's address.")
    title = models.CharField(max_length=200)
    blurb = models.TextField(blank=True, help_text="What the bundle is (Markdown).")
    cover = models.ImageField(upload_to=bundle_cover_path, blank=True)
    created_by = models.ForeignKey(Author, on_delete=models.PROTECT, related_name="bundles_made")
    books = models.ManyToManyField(Book, through="BundleItem", related_name="bundles")
    currency = models.CharField(max_length=3, default="USD")
    minimum_price_cents = models.PositiveIntegerField()
    suggested_price_cents = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A bundle is never free and never priced in the invalid 1-98¢ band.
            models.CheckConstraint(
                condition=Q(minimum_price_cents__gte=MIN_PAID_PRICE_CENTS),
                name="bundle_minimum_price_valid",
            ),
            models.CheckConstraint(
                condition=Q(suggested_price_cents__gte=models.F("minimum_price_cents")),
                name="bundle_suggested_at_least_minimum",
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("payments:bundle", kwargs={"slug": self.slug})


class BundleItem(models.Model):
    bundle = models.ForeignKey(Bundle, on_delete=models.CASCADE, related_name="items")
    book = models.ForeignKey(Book, on_delete=models.PROTECT, related_name="bundle_items")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["bundle", "book"], name="bundleitem_unique"),
        ]

    def __str__(self):
        return f"{self.book} in {self.bundle}"


class BundleConsent(models.Model):
    """One author's answer to "may your books be sold in this bundle, at its prices?".

    The bundle's maker consents by making it. Other authors of included books get
    a pending row (and an e-mail); changing the books or prices asks them again."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        DECLINED = "declined", "Declined"

    bundle = models.ForeignKey(Bundle, on_delete=models.CASCADE, related_name="consents")
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="bundle_consents")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    asked_at = models.DateTimeField(default=timezone.now)
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["bundle", "author"], name="bundleconsent_unique"),
        ]

    def __str__(self):
        return f"{self.author} on {self.bundle}: {self.status}"
