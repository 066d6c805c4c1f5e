"""Books written here in Markdown: chapters, zip import, and builds to PDF/EPUB.

A build renders everything first (PDF, EPUB, samples); only when all of it
succeeded does a "publish" build create a release, through the same
``create_release``/``publish_release`` an uploaded release goes through, so
readers get the free update and its e-mail. A failed build publishes nothing.
"""

import io
import logging
import posixpath
import zipfile
import zlib
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from PIL import Image

from core.input_guard import unstorable

from . import counts, services
from .ebook import BookText, Chapter, ManuscriptError, build_epub, build_pdf, toc
from .models import Book, Build, ManuscriptChapter, ManuscriptImage

log = logging.getLogger(__name__)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")

# What reading a damaged zip's member raises: a bad CRC or a cut-off member
# (BadZipFile, EOFError), broken compressed data (zlib.error), a compression
# method or an encryption zipfile does not support (NotImplementedError, RuntimeError).
DAMAGED_ZIP = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)


# --- Chapters -------------------------------------------------------------------


def add_chapter(*, book: Book, title: str, part: str = "", markdown: str = "", in_sample=False):
    last = book.manuscript_chapters.aggregate(m=Max("position"))["m"]
    return ManuscriptChapter.objects.create(
        book=book,
        position=0 if last is None else last + 1,
        title=title,
        part=part,
        markdown=markdown,
        in_sample=in_sample,
    )


@transaction.atomic
def move_chapter(*, chapter: ManuscriptChapter, offset: int) -> None:
    """Swap the chapter with its neighbour above (-1) or below (+1)."""
    chapters = list(
        ManuscriptChapter.objects.select_for_update()
        .filter(book_id=chapter.book_id)
        .order_by("position", "id")
    )
    index = next(i for i, c in enumerate(chapters) if c.pk == chapter.pk)
    other = index + offset
    if not 0 <= other < len(chapters):
        return
    chapters[index], chapters[other] = chapters[other], chapters[index]
    for position, item in enumerate(chapters):
        if item.position != position:
            ManuscriptChapter.objects.filter(pk=item.pk).update(position=position)


# A deleted chapter can be restored this long; then beat's purge removes it.
CHAPTER_TRASH_DAYS = 30


def delete_chapter(*, chapter: ManuscriptChapter) -> None:
    """Move the chapter to the trash (restorable; see ``restore_chapter``)."""
    ManuscriptChapter.objects.filter(pk=chapter.pk).update(deleted_at=timezone.now())


def trash(book: Book, *, now=None):
    """The book's deleted chapters that can still be restored, newest first."""
    cutoff = (now or timezone.now()) - timedelta(days=CHAPTER_TRASH_DAYS)
    return ManuscriptChapter.with_deleted.filter(book=book, deleted_at__gte=cutoff).order_by(
        "-deleted_at", "-id"
    )


@transaction.atomic
def restore_chapter(*, book: Book, chapter_id: int) -> ManuscriptChapter:
    """Bring a deleted chapter back where it was: the chapters from its old place on
    move one down. ValidationError when it is neither in the book's trash nor back."""
    Book.objects.select_for_update().get(pk=book.pk)  # one restore or move at a time
    chapter = trash(book).filter(pk=chapter_id).first()
    if chapter is None:
        live = book.manuscript_chapters.filter(pk=chapter_id).first()
        if live is not None:  # restored already (a double click): nothing to do
            return live
        raise ValidationError("This chapter cannot be restored any more.")
    book.manuscript_chapters.filter(position__gte=chapter.position).update(
        position=F("position") + 1
    )
    chapter.deleted_at = None
    chapter.save(update_fields=["deleted_at"])
    return chapter


def purge_deleted_chapters(*, now=None) -> int:
    """Celery beat: chapters in the trash longer than CHAPTER_TRASH_DAYS are deleted
    for good. Returns how many."""
    cutoff = (now or timezone.now()) - timedelta(days=CHAPTER_TRASH_DAYS)
    deleted, _ = ManuscriptChapter.with_deleted.filter(deleted_at__lt=cutoff).delete()
    return deleted


# --- Zip import --------------------------------------------------------------------


def _safe_name(name: str) -> str:
    """A zip member's path, refused if it could escape the manuscript's folder."""
    normal = posixpath.normpath(name.replace("\\", "/"))
    if (
        name.startswith(("/", "\\"))
        or normal.startswith("..")
        or ":" in name
        or normal in ("", ".")
    ):
        raise ValidationError(f"{name}: paths outside the manuscript are not allowed.")
    return normal


def import_zip(*, book: Book, upload) -> int:
    """Replace the manuscript with a zip of Markdown files, images and a Book.txt
    listing the chapter files in order (a line "# Part title" starts a part; a
    trailing "[sample]" puts the chapter in the free sample). Returns the number
    of chapters. Nothing changes unless the whole zip is good."""
    if upload.size > settings.MANUSCRIPT_ZIP_MAX_BYTES:
        limit = settings.MANUSCRIPT_ZIP_MAX_BYTES // (1024 * 1024)
        raise ValidationError(f"{upload.name}: the zip is too large; the limit is {limit} MB.")
    try:
        archive = zipfile.ZipFile(upload)
    except zipfile.BadZipFile as exc:
        raise ValidationError(f"{upload.name}: this is not a zip file.") from exc
    try:
        chapters, images = _read_zip(archive, upload.name)
    except DAMAGED_ZIP as exc:
        raise ValidationError(
            f"{upload.name}: the zip is damaged and cannot be unpacked ({exc}). "
            "Please create it again and upload the new one."
        ) from exc
    with transaction.atomic():
        Book.objects.select_for_update().get(pk=book.pk)
        # The trash goes too: its chapters belonged to the manuscript being replaced.
        ManuscriptChapter.with_deleted.filter(book=book).delete()
        for image in book.manuscript_images.all():
            image.file.delete(save=False)
        book.manuscript_images.all().delete()
        ManuscriptChapter.objects.bulk_create(
            ManuscriptChapter(book=book, position=i, **fields) for i, fields in enumerate(chapters)
        )
        for path, data in images.items():
            ManuscriptImage.objects.create(
                book=book, path=path, file=ContentFile(data, name=posixpath.basename(path))
            )
    return len(chapters)


def _read_zip(archive: zipfile.ZipFile, zip_name: str) -> tuple[list[dict], dict]:
    """The chapters and images of a manuscript zip, checked, nothing stored yet."""
    with archive:
        members = {}
        for info in archive.infolist():
            if info.is_dir():
                continue
            members[_safe_name(info.filename)] = info
        if sum(i.file_size for i in members.values()) > settings.MANUSCRIPT_UNZIPPED_MAX_BYTES:
            raise ValidationError(f"{zip_name}: the unpacked manuscript is too large.")
        order_name = next((n for n in members if posixpath.basename(n).lower() == "book.txt"), None)
        if order_name is None:
            raise ValidationError(f"{zip_name}: Book.txt (the list of chapter files) is missing.")
        root = posixpath.dirname(order_name)
        chapters = _chapters_from_order(archive, members, order_name, root)
        images = {
            posixpath.relpath(name, root) if root else name: archive.read(info)
            for name, info in members.items()
            if name.lower().endswith(IMAGE_SUFFIXES)
        }
    return chapters, images


def _chapters_from_order(archive, members, order_name, root) -> list[dict]:
    try:
        order = archive.read(members[order_name]).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{order_name}: not UTF-8 text.") from exc
    if unstorable(order):
        raise ValidationError(f"{order_name}: contains a NUL character; remove it and try again.")
    lines = order.splitlines()
    chapters, part = [], ""
    for raw in lines:
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            part = line.lstrip("#").strip()
            continue
        in_sample = line.lower().endswith(services.SAMPLE_MARK)
        if in_sample:
            line = line[: -len(services.SAMPLE_MARK)].strip()
        name = _safe_name(posixpath.join(root, line) if root else line)
        if name not in members:
            raise ValidationError(f"{line}: listed in Book.txt but not in the zip.")
        try:
            text = archive.read(members[name]).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"{line}: not UTF-8 text.") from exc
        if unstorable(text):  # the database cannot store it: say where it is
            raise ValidationError(f"{line}: contains a NUL character; remove it and try again.")
        title, body = _split_title(text, fallback=posixpath.splitext(posixpath.basename(line))[0])
        chapters.append(
            {"title": title, "markdown": body, "part": part, "in_sample": in_sample, "source": line}
        )
    if not chapters:
        raise ValidationError(f"{order_name}: it lists no chapter files.")
    return chapters


def _split_title(text: str, *, fallback: str) -> tuple[str, str]:
    """A chapter file's first "# Heading" is its title; the rest is its body."""
    lines = text.lstrip("\ufeff").splitlines()
    for i, line in enumerate(lines):
        if line.strip():
            if line.startswith("# "):
                return line[2:].strip()[:300], "\n".join(lines[i + 1 :]).strip("\n")
            break
    return fallback[:300], text


# --- Builds --------------------------------------------------------------------------


def book_text(book: Book, *, sample_only=False) -> BookText:
    chapters = [
        Chapter(title=c.title, markdown=c.markdown, part=c.part, source=c.source or c.title)
        for c in book.manuscript_chapters.all()
        if c.in_sample or not sample_only
    ]
    images = {}
    for image in book.manuscript_images.all():
        with image.file.open("rb") as f:
            images[image.path] = f.read()
    return BookText(
        title=f"{book.title} (sample)" if sample_only else book.title,
        subtitle=book.subtitle,
        authors=[a.display_name for a in book.author_list],
        language=book.language,
        identifier=f"storefront:{book.slug}",
        chapters=chapters,
        images=images,
        version=book.current_release.version if book.current_release else "draft",
    )


def _cover_png(book: Book) -> bytes | None:
    """The book's cover as PNG for the EPUB (covers may be uploaded as JPEG or WebP)."""
    if not book.cover:
        return None
    with book.cover.open("rb") as f, Image.open(f) as image:
        out = io.BytesIO()
        image.convert("RGB").save(out, format="PNG")
    return out.getvalue()


def new_build(*, book: Book, kind: str, user=None, version: str = "", notes: str = "") -> Build:
    """A queued build row, or ValidationError. ``builds.request_build`` starts its task."""
    if not book.manuscript_chapters.exists():
        raise ValidationError("Write or upload at least one chapter first.")
    if kind == Build.Kind.PUBLISH:
        if not version:
            raise ValidationError("Give the new version a label, like 1.0.")
        if book.releases.filter(version=version).exists():
            raise ValidationError(f"Version {version} exists already; use a new version label.")
    return Build.objects.create(
        book=book, kind=kind, version=version, notes=notes, requested_by=user
    )


def _progress(build_id: int, label: str, offset: int, total: int):
    def report(done: int, count: int, chapter) -> None:
        Build.objects.filter(pk=build_id, status=Build.Status.RENDERING).update(
            step=offset + done,
            total=total,
            message=f"{label}: chapter {done} of {count} ({chapter.title})"[:400],
        )

    return report


def run_build(build_id: int) -> Build:
    """Render the manuscript; publish it if asked. Claims the build so a retried task
    never renders or publishes it twice."""
    claimed = Build.objects.filter(pk=build_id, status=Build.Status.QUEUED).update(
        status=Build.Status.RENDERING, message="Starting", rendering_since=timezone.now()
    )
    build = Build.objects.select_related("book").get(pk=build_id)
    if not claimed:
        return build
    book = Book.objects.with_authors().select_related("current_release").get(pk=build.book_id)
    try:
        text = book_text(book)
        sample = book_text(book, sample_only=True)
        count = len(text.chapters)
        total = 2 * count + 2 * len(sample.chapters)
        pdf = build_pdf(text, progress=_progress(build.pk, "PDF", 0, total))
        epub = build_epub(
            text, cover_png=_cover_png(book), progress=_progress(build.pk, "EPUB", count, total)
        )
        sample_files = {}
        if sample.chapters:
            sample_files["pdf"] = build_pdf(
                sample, progress=_progress(build.pk, "Sample PDF", 2 * count, total)
            )
            sample_files["epub"] = build_epub(
                sample,
                progress=_progress(
                    build.pk, "Sample EPUB", 2 * count + len(sample.chapters), total
                ),
            )
    except ManuscriptError as exc:
        return _fail(build, str(exc.message), exc.source)
    except Exception as exc:  # a bug in rendering must still end the build, visibly
        log.exception("build %s failed", build.pk)
        return _fail(build, f"The build failed unexpectedly: {exc}", "")

    if build.kind == Build.Kind.PREVIEW:
        build.preview_pdf.save("preview.pdf", ContentFile(pdf), save=False)
        build.preview_epub.save("preview.epub", ContentFile(epub), save=False)
        with transaction.atomic():
            if not _still_ours(build):
                build.preview_pdf.delete(save=False)
                build.preview_epub.delete(save=False)
                return Build.objects.get(pk=build.pk)
            return _finish(build)
    try:
        with transaction.atomic():
            if not _still_ours(build):
                return Build.objects.get(pk=build.pk)
            release = services.create_release(
                book=book,
                version=build.version,
                notes=build.notes,
                files={
                    "pdf": ContentFile(pdf, name="book.pdf"),
                    "epub": ContentFile(epub, name="book.epub"),
                },
                word_count=counts.markdown_words(
                    f"{c.title}\n\n{c.markdown}" for c in text.chapters
                ),
            )
            for fmt, data in sample_files.items():
                services.set_sample_file(
                    book=book, fmt=fmt, upload=ContentFile(data, name=f"sample.{fmt}")
                )
            services.replace_toc(book=book, lines=_toc_lines(book, text))
            Book.objects.filter(pk=book.pk).update(
                sample_markdown="\n\n".join(f"# {c.title}\n\n{c.markdown}" for c in sample.chapters)
            )
            services.publish_release(release=release)
            build.release = release
            return _finish(build)
    except ValidationError as exc:
        return _fail(build, " ".join(exc.messages), "")
    except Exception as exc:  # nothing was published (rolled back): a failed build, not a crash
        log.exception("publishing build %s failed", build.pk)
        return _fail(build, f"The release could not be published: {exc}", "")


def _toc_lines(book: Book, text: BookText) -> list[services.TocLine]:
    """The book page's table of contents, from the manuscript's parts and chapters."""
    sample_titles = {c.title for c in book.manuscript_chapters.all() if c.in_sample}
    parts = {c.title: bool(c.part) for c in text.chapters}
    return [
        services.TocLine("part", title)
        if kind == "part"
        else services.TocLine(
            "chapter", title, in_part=parts.get(title, False), in_sample=title in sample_titles
        )
        for kind, title in toc(text)
    ]


def _still_ours(build: Build) -> bool:
    """Lock the build: is it still rendering? A build failed as interrupted while this
    worker was slow stays failed (the author may have started another): its files
    are dropped and nothing is published. Holding the lock to the end makes
    ``fail_stale_builds`` wait for the outcome instead of overwriting it."""
    return (
        Build.objects.select_for_update()
        .filter(pk=build.pk, status=Build.Status.RENDERING)
        .exists()
    )


def _finish(build: Build) -> Build:
    build.refresh_from_db(fields=["step", "total"])  # progress was written by other queries
    build.status = Build.Status.DONE
    build.step = build.total = max(build.total, 1)
    build.message = "Published" if build.kind == Build.Kind.PUBLISH else "Preview ready"
    build.finished_at = timezone.now()
    build.save()
    return build


def _fail(build: Build, message: str, source: str) -> Build:
    Build.objects.filter(pk=build.pk, status=Build.Status.RENDERING).update(
        status=Build.Status.FAILED,
        error=message,
        error_source=source,
        message="Failed",
        finished_at=timezone.now(),
    )
    build.refresh_from_db()
    return build


# Longer than any real build: rendering is CPU-bound and reports progress per
# chapter; a build "rendering" this long lost its worker (killed, OOM, deploy).
BUILD_STALE_MINUTES = 30
INTERRUPTED = (
    "The build was interrupted: the machine building it stopped. "
    "Nothing was published; start it again."
)


def fail_stale_builds(*, now=None) -> int:
    """Celery beat: builds left rendering by a worker that died are failed, so the
    author sees it and can start them again (no automatic retry: a manuscript that
    killed its worker would kill the next one). A redelivered task finds the build
    no longer queued and does nothing. Returns how many were failed."""
    now = now or timezone.now()
    stale = now - timedelta(minutes=BUILD_STALE_MINUTES)
    return (
        Build.objects.filter(status=Build.Status.RENDERING)
        .filter(
            Q(rendering_since__lt=stale) | Q(rendering_since__isnull=True, created_at__lt=stale)
        )
        .update(
            status=Build.Status.FAILED,
            error=INTERRUPTED,
            error_source="",
            message="Interrupted",
            finished_at=now,
        )
    )
