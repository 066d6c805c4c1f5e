"""Writes of the catalog: every change that touches more than one row."""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from core.pagecache import forget_now_and_at_commit

from . import counts
from .models import Author, Book, BookAuthor, BookFormat, Release, ReleaseFile, SampleFile, TocEntry
from .signals import release_published, release_publishing


def unique_slug(model, text: str, *, max_length: int = 120, exclude_pk=None) -> str:
    """A slug from ``text`` that no other row of ``model`` uses yet."""
    base = (slugify(text) or "item")[:max_length].strip("-") or "item"
    candidate, n = base, 2
    taken = model.objects.exclude(pk=exclude_pk)
    while taken.filter(slug=candidate).exists():
        suffix = f"-{n}"
        candidate = f"{base[: max_length - len(suffix)]}{suffix}"
        n += 1
    return candidate


@transaction.atomic
def save_author_profile(
    *, user, display_name: str, bio: str = "", photo=None, accepts_messages: bool = True
) -> Author:
    """Create the user's author profile, or update it. The slug is set once and stays stable."""
    author = Author.objects.select_for_update().filter(user=user).first()
    if author is None:
        author = Author(user=user, slug=unique_slug(Author, display_name))
    author.display_name = display_name
    author.bio = bio
    author.accepts_messages = accepts_messages
    if photo is not None:
        author.photo = photo or None
    author.save()
    return author


# --- Books -------------------------------------------------------------------


@transaction.atomic
def create_book(*, author: Author, title: str, slug: str = "", **fields) -> Book:
    """Create a draft-or-listed book with ``author`` as its only author (100%)."""
    categories = fields.pop("categories", None)
    book = Book(title=title, slug=slug or unique_slug(Book, title), **fields)
    if book.status in Book.LISTED_STATUSES:
        book.published_at = timezone.now()
    book.full_clean()
    book.save()
    if categories is not None:
        book.categories.set(categories)
    BookAuthor.objects.create(book=book, author=author, royalty_share=100, position=0)
    return book


@transaction.atomic
def update_book(*, book: Book, **fields) -> Book:
    """Save edits to a book; the first time it is listed sets its publication date."""
    categories = fields.pop("categories", None)
    for name, value in fields.items():
        setattr(book, name, value)
    if book.status in Book.LISTED_STATUSES and book.published_at is None:
        book.published_at = timezone.now()
    book.full_clean()
    book.save()
    if categories is not None:
        book.categories.set(categories)
    return book


@dataclass(frozen=True)
class CoAuthor:
    author: Author
    share: int


@transaction.atomic
def set_coauthors(*, book: Book, coauthors: list[CoAuthor]) -> None:
    """Replace the book's authors and royalty shares; shares must sum to 100."""
    if not coauthors:
        raise ValidationError("A book needs at least one author.")
    authors = [c.author.pk for c in coauthors]
    if len(set(authors)) != len(authors):
        raise ValidationError("Each co-author can appear only once.")
    if any(c.share < 1 for c in coauthors) or sum(c.share for c in coauthors) != 100:
        raise ValidationError("Royalty shares must be whole percents that add up to 100.")
    Book.objects.select_for_update().get(pk=book.pk)
    book.authorships.all().delete()
    BookAuthor.objects.bulk_create(
        BookAuthor(book=book, author=c.author, royalty_share=c.share, position=i)
        for i, c in enumerate(coauthors)
    )
    forget_now_and_at_commit()


# --- Table of contents --------------------------------------------------------


@dataclass(frozen=True)
class TocLine:
    kind: str
    title: str
    in_part: bool = False
    in_sample: bool = False


SAMPLE_MARK = "[sample]"


def parse_toc(text: str) -> list[TocLine]:
    """Parse the table of contents as authors type it.

    ``# Part I — Context``   a part; the indented or "- " lines after it are its chapters
    ``- Chapter 1: ...``     a chapter inside the part above
    ``Preface``              a chapter standing alone
    A trailing ``[sample]`` marks a chapter as part of the free sample.
    """
    lines, in_part = [], False
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        stripped = raw.strip()
        in_sample = stripped.lower().endswith(SAMPLE_MARK)
        if in_sample:
            stripped = stripped[: -len(SAMPLE_MARK)].rstrip()
        if stripped.startswith("#"):
            title, kind, in_part, inside = stripped.lstrip("#").strip(), "part", True, False
        elif stripped.startswith(("-", "*")) or raw[:1] in (" ", "\t"):
            if not in_part:
                raise ValidationError(
                    f"Line {number}: a chapter marked with '-' needs a part above it."
                )
            title, kind, inside = stripped.lstrip("-* ").strip(), "chapter", True
        else:
            title, kind, in_part, inside = stripped, "chapter", False, False
        if not title:
            raise ValidationError(f"Line {number} has no title.")
        if len(title) > 300:
            raise ValidationError(f"Line {number} is longer than 300 characters.")
        lines.append(TocLine(kind=kind, title=title, in_part=inside, in_sample=in_sample))
    return lines


def toc_as_text(book: Book) -> str:
    out = []
    for entry in book.toc_entries.all():
        mark = f" {SAMPLE_MARK}" if entry.in_sample else ""
        if entry.kind == TocEntry.Kind.PART:
            out.append(f"# {entry.title}{mark}")
        elif entry.in_part:
            out.append(f"- {entry.title}{mark}")
        else:
            out.append(f"{entry.title}{mark}")
    return "\n".join(out)


@transaction.atomic
def replace_toc(*, book: Book, lines: list[TocLine]) -> None:
    Book.objects.select_for_update().get(pk=book.pk)
    book.toc_entries.all().delete()
    TocEntry.objects.bulk_create(
        TocEntry(
            book=book,
            position=i,
            kind=line.kind,
            title=line.title,
            in_part=line.in_part,
            in_sample=line.in_sample,
        )
        for i, line in enumerate(lines)
    )
    Book.objects.filter(pk=book.pk).update(updated_at=timezone.now())
    forget_now_and_at_commit()  # bulk_create sends no signals: forget cached pages here


# --- Releases and samples -----------------------------------------------------


@transaction.atomic
def create_release(
    *, book: Book, version: str, notes: str = "", files: dict, word_count: int | None = None
) -> Release:
    """A new, unpublished release with its files ({"pdf": upload, "epub": upload}).

    Its page count is the PDF's; its word count is ``word_count`` (a build passes the
    manuscript's) or else the EPUB's text."""
    files = {fmt: f for fmt, f in files.items() if f}
    if not files:
        raise ValidationError("Upload at least one file: PDF or EPUB.")
    if book.releases.filter(version=version).exists():
        raise ValidationError(f"Version {version} exists already; use a new version label.")
    if word_count is None and "epub" in files:
        word_count = counts.epub_words(files["epub"])
    release = Release.objects.create(
        book=book,
        version=version,
        notes=notes,
        page_count=counts.pdf_pages(files["pdf"]) if "pdf" in files else None,
        word_count=word_count,
    )
    for fmt, upload in files.items():
        ReleaseFile.objects.create(
            release=release, format=BookFormat(fmt), file=upload, size=upload.size
        )
    return release


def publish_release(*, release: Release, by=None) -> Release:
    """Make ``release`` its book's current release and announce it.

    Idempotent: publishing a published release changes nothing and sends no
    second ``release_published`` (readers must not get two e-mails).
    """
    with transaction.atomic():
        book = Book.objects.select_for_update().get(pk=release.book_id)
        release = Release.objects.select_for_update().get(pk=release.pk)
        if by is not None and not (by.is_staff or book.is_authored_by(by)):
            raise PermissionDenied("Only the book's authors can publish its releases.")
        if release.is_published:
            return release
        now = timezone.now()
        release.published_at = now
        release.save(update_fields=["published_at"])
        book.current_release = release
        fields = ["current_release", "updated_at"]
        for name in ("page_count", "word_count"):  # a count the files did not give stays
            if getattr(release, name) is not None:
                setattr(book, name, getattr(release, name))
                fields.append(name)
        book.save(update_fields=fields)
        release_publishing.send(sender=Book, book=book, release=release)
        # Robust: the release is committed; if the broker refuses the fan-out now,
        # the author still sees it published and library's sweeper announces it.
        transaction.on_commit(
            lambda: release_published.send(sender=Book, book=book, release=release),
            robust=True,
        )
    return release


@transaction.atomic
def set_sample_file(*, book: Book, fmt: str, upload) -> SampleFile:
    """Set (or replace) the book's free sample in one format."""
    sample = SampleFile.objects.select_for_update().filter(book=book, format=fmt).first()
    old_name = sample.file.name if sample else None
    sample = sample or SampleFile(book=book, format=BookFormat(fmt))
    sample.file = upload
    sample.size = upload.size
    sample.save()
    if old_name:
        storage = sample.file.storage
        transaction.on_commit(lambda: storage.delete(old_name))
    return sample
