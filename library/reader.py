"""The whole book online: a release's chapters (read once out of its EPUB and kept
as rows), and where each reader is in each book.

Every release is read from its EPUB, written books included: the EPUB a build
makes *is* the manuscript's chapters as they were published (rendered by
``catalog.ebook`` from the same Markdown), whereas ``ManuscriptChapter`` rows are
the author's live draft, which may hold unpublished edits and has no history to
compare releases with.
"""

import logging
import zipfile

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import BookFormat, Release, ReleaseFile

from . import caching
from .epub_text import UnreadableEpub, read_chapters
from .models import ReadingPosition, ReleaseChapter, ReleaseText

log = logging.getLogger(__name__)


def _epub_file(release_id: int) -> ReleaseFile | None:
    return ReleaseFile.objects.filter(release_id=release_id, format=BookFormat.EPUB).first()


def index_release(release_id: int) -> ReleaseText:
    """Read the release's chapters out of its EPUB, once: a second call (a retried
    task, two readers at once) finds the row and reads nothing. The file is read
    before the transaction; the row and its chapters are written in one."""
    existing = ReleaseText.objects.filter(release_id=release_id).first()
    if existing is not None:
        return existing
    release_file = _epub_file(release_id)
    chapters, error = [], ""
    if release_file is None:
        error = "This version has no EPUB."
    else:
        try:
            with release_file.file.open("rb") as f:
                chapters = read_chapters(f.read())
            if not chapters:
                error = "No chapters were found in this version's EPUB."
        except (UnreadableEpub, OSError, ValueError) as exc:
            log.warning("release %s: EPUB unreadable: %s", release_id, exc)
            error = "This version's EPUB could not be read."
    try:
        with transaction.atomic():
            text = ReleaseText.objects.create(release_id=release_id, error=error)
            ReleaseChapter.objects.bulk_create(
                ReleaseChapter(
                    release_id=release_id,
                    number=c.number,
                    title=c.title,
                    part=c.part,
                    href=c.href,
                    html=c.html,
                    digest=c.digest,
                )
                for c in chapters
            )
    except IntegrityError:  # another process indexed it meanwhile: theirs stands
        return ReleaseText.objects.get(release_id=release_id)
    return text


def ensure_indexed(release_ids) -> set[int]:
    """Index whichever of these releases is not indexed yet (normally none: each
    release is indexed when it is announced). Returns those that can be read."""
    ids = set(release_ids) - {None}
    if not ids:
        return set()
    errors = dict(ReleaseText.objects.filter(release_id__in=ids).values_list("release_id", "error"))
    for release_id in sorted(ids - errors.keys()):
        errors[release_id] = index_release(release_id).error
    return {release_id for release_id, error in errors.items() if not error}


def table_of_contents(release: Release) -> list[ReleaseChapter]:
    """The release's chapters in order, without their text."""
    ensure_indexed([release.pk])
    return list(
        ReleaseChapter.objects.filter(release=release).only("number", "title", "part", "release_id")
    )


def chapter(release: Release, number: int) -> ReleaseChapter | None:
    """One chapter with its text (``table_of_contents`` has indexed the release)."""
    return ReleaseChapter.objects.filter(release=release, number=number).first()


def remember_position(*, user, book, chapter: ReleaseChapter) -> None:
    """The reader is at this chapter of the book (one row per reader and book; a
    write only when it moves)."""
    found = ReadingPosition.objects.filter(user=user, book=book).first()
    if found is not None:
        if (found.chapter_number, found.chapter_title) != (chapter.number, chapter.title):
            ReadingPosition.objects.filter(pk=found.pk).update(
                chapter_number=chapter.number,
                chapter_title=chapter.title,
                updated_at=timezone.now(),
            )
        return
    try:
        with transaction.atomic():
            _, created = ReadingPosition.objects.get_or_create(
                user=user,
                book=book,
                defaults={"chapter_number": chapter.number, "chapter_title": chapter.title},
            )
    except IntegrityError:  # two tabs at once: either position is right
        return
    if created:  # the library's list now says "Continue reading"
        caching.forget(user.pk)


def resume_number(position: ReadingPosition | None, chapters: list[ReleaseChapter]) -> int | None:
    """Which chapter of this release to continue at: the one with the title the
    reader was reading (a new release may have moved it), else the same number,
    else the last chapter."""
    if position is None or not chapters:
        return None
    same_title = [c.number for c in chapters if c.title == position.chapter_title]
    if same_title:
        return min(same_title, key=lambda n: abs(n - position.chapter_number))
    return min(position.chapter_number, chapters[-1].number)


def epub_member(release: Release, name: str) -> bytes | None:
    """A file inside the release's EPUB (an image a chapter shows), or None."""
    release_file = _epub_file(release.pk)
    if release_file is None:
        return None
    try:
        with release_file.file.open("rb") as f, zipfile.ZipFile(f) as archive:
            info = archive.getinfo(name)
            if info.file_size > 16 * 1024 * 1024:
                return None
            return archive.read(info)
    except (KeyError, zipfile.BadZipFile, OSError):
        return None
