"""Buyer-stamped files: each owner's own PDF and EPUB of a book whose author asked for it.

The stamp itself (``catalog.ebook.stamp``) is pure; this module decides who gets a copy
and keeps one ``StampedFile`` row per (release, reader, format):

- made right after a purchase (``entitlement_granted`` → ``tasks.stamp_for_reader``)
  and after each new release for every owner, in chunks of ``STAMP_CHUNK`` owners
  (``release_published`` → ``tasks.restamp_release`` → ``tasks.stamp_chunk``);
- removed, rows and files, when the reader loses the book (``entitlement_revoked``);
- made on demand by the download when it is not ready (``copy_for_download``).

Exactly once, whatever the retries: the rows exist before the work (a unique row per
release, reader and format; bulk inserts ignore the ones that exist) and each is
claimed by one worker with a conditional UPDATE (``pending``/``failed`` → ``stamping``).
A claim older than ``STAMP_STALE_SECONDS`` is a dead worker's and may be taken; a
redelivered task (same task id, ``acks_late``) takes its own claim back at once. The
file is written before its row says ``ready``, under the row's lock, and only while the
claim is still ours and the reader still owns the book; otherwise the new file is
deleted. So a worker killed at any point leaves a row another run finishes, and never
a second copy.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.ebook.stamp import Stamp, StampError, stamp_epub, stamp_pdf
from catalog.files import private_storage
from catalog.models import Book, BookFormat, Release, ReleaseFile

from .models import Entitlement, StampedFile

log = logging.getLogger(__name__)

STAMPERS = {BookFormat.PDF: stamp_pdf, BookFormat.EPUB: stamp_epub}


def plan_release(release_id: int) -> list[list[int]]:
    """The owners whose copies of a new release must be stamped, as chunks of user ids
    ([] when the book is not stamped, or a newer release superseded this one)."""
    release = Release.objects.select_related("book").get(pk=release_id)
    book = release.book
    if not book.stamp_files or not release.is_published or book.current_release_id != release.pk:
        return []
    user_ids = list(
        Entitlement.objects.active()
        .filter(book=book)
        .order_by("user_id")
        .values_list("user_id", flat=True)
    )
    size = settings.STAMP_CHUNK
    return [user_ids[i : i + size] for i in range(0, len(user_ids), size)]


def stamp_for_reader(*, user_id: int, book_id: int, task_id: str = "") -> dict[str, int]:
    """A new owner's copies of the current release (right after the purchase)."""
    book = Book.objects.only("id", "stamp_files", "current_release_id").get(pk=book_id)
    if not book.stamp_files or book.current_release_id is None:
        return {}
    return stamp_chunk(book.current_release_id, [user_id], task_id=task_id)


def ensure_rows(release_id: int, user_ids: list[int]) -> None:
    """A pending row for every (reader, format) of the release that has none."""
    release = Release.objects.only("id", "book_id").get(pk=release_id)
    formats = list(ReleaseFile.objects.filter(release=release).values_list("format", flat=True))
    StampedFile.objects.bulk_create(
        [
            StampedFile(release=release, book_id=release.book_id, user_id=user_id, format=fmt)
            for user_id in user_ids
            for fmt in formats
        ],
        ignore_conflicts=True,
    )


def stamp_chunk(release_id: int, user_ids: list[int], *, task_id: str = "") -> dict[str, int]:
    """Stamp one chunk of owners' copies of a release; counts of outcomes. Re-running it
    (a retry, a redelivery after a killed worker) stamps only what is not ready."""
    ensure_rows(release_id, user_ids)
    pending = StampedFile.objects.filter(release_id=release_id, user_id__in=user_ids).exclude(
        status=StampedFile.Status.READY
    )
    sources: dict[str, bytes] = {}  # each original is read once per chunk
    outcomes: dict[str, int] = {}
    for row_id in pending.order_by("pk").values_list("pk", flat=True):
        outcome = stamp_row(row_id, task_id=task_id, sources=sources)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes


def _claim(row_id: int, token: str) -> bool:
    now = timezone.now()
    stale = now - timedelta(seconds=settings.STAMP_STALE_SECONDS)
    claimable = Q(status__in=[StampedFile.Status.PENDING, StampedFile.Status.FAILED]) | Q(
        status=StampedFile.Status.STAMPING, claimed_at__lt=stale
    )
    if token:
        claimable |= Q(status=StampedFile.Status.STAMPING, claimed_by=token)
    return bool(
        StampedFile.objects.filter(claimable, pk=row_id).update(
            status=StampedFile.Status.STAMPING, claimed_at=now, claimed_by=token
        )
    )


def stamp_row(row_id: int, *, task_id: str = "", sources: dict | None = None) -> str:
    """Stamp one row's copy if nobody else is: ``ready``, ``busy`` (claimed by another
    live worker, or done), ``gone`` (the reader or the file is gone) or ``failed``."""
    token = task_id or uuid.uuid4().hex
    if not _claim(row_id, token):
        return "busy"
    row = StampedFile.objects.select_related("release").get(pk=row_id)
    entitlement = (
        Entitlement.objects.active().filter(user_id=row.user_id, book_id=row.book_id).first()
    )
    original = ReleaseFile.objects.filter(release_id=row.release_id, format=row.format).first()
    if entitlement is None or original is None:
        StampedFile.objects.filter(pk=row_id, claimed_by=token).delete()
        return "gone"
    user = get_user_model().objects.only("name", "email").get(pk=row.user_id)
    order_id = str(entitlement.order_ref) if entitlement.order_ref else None
    stamp = Stamp(name=user.name, email=user.email, order_id=order_id)
    try:
        data = _source(original, sources)
        stamped = STAMPERS[row.format](data, stamp)
    except (StampError, OSError) as exc:
        log.error("stamping %s failed: %s", row, exc)
        StampedFile.objects.filter(pk=row_id, claimed_by=token).update(
            status=StampedFile.Status.FAILED, error=str(exc)[:300], claimed_at=None
        )
        return "failed"
    name = private_storage.save(_path(row), ContentFile(stamped))
    return _finish(row_id, token, name, size=len(stamped), order_ref=entitlement.order_ref)


def _source(original: ReleaseFile, sources: dict | None) -> bytes:
    if sources is not None and original.format in sources:
        return sources[original.format]
    with original.file.open("rb") as handle:
        data = handle.read()
    if sources is not None:
        sources[original.format] = data
    return data


def _path(row: StampedFile) -> str:
    return row.file.field.generate_filename(row, f"copy.{row.format}")


def _finish(row_id: int, token: str, name: str, *, size: int, order_ref) -> str:
    """Mark the row ready with its new file, only if the claim is still ours and the
    reader still owns the book; otherwise forget the file just written."""
    old = ""
    with transaction.atomic():
        row = StampedFile.objects.select_for_update().filter(pk=row_id).first()
        owned = (
            row is not None
            and Entitlement.objects.active()
            .filter(user_id=row.user_id, book_id=row.book_id)
            .exists()
        )
        if (
            row is None
            or row.claimed_by != token
            or row.status != StampedFile.Status.STAMPING
            or not owned
        ):
            transaction.on_commit(lambda: private_storage.delete(name))
            return "busy" if row is not None and owned else "gone"
        old = row.file.name
        row.file.name = name
        row.status = StampedFile.Status.READY
        row.size = size
        row.order_ref = order_ref
        row.error = ""
        row.finished_at = timezone.now()
        row.save(update_fields=["file", "status", "size", "order_ref", "error", "finished_at"])
    if old and old != name:
        private_storage.delete(old)
    return "ready"


def copy_for_download(*, user, release_file: ReleaseFile) -> StampedFile:
    """The reader's stamped copy of a file, stamped now when it is not ready yet and
    small enough to stamp inside the request (``STAMP_INLINE_MAX_BYTES``). The row
    returned is ``ready`` or not; a caller never serves anything else in its place.
    A row that exists (every download after the first) is one query."""
    mine = StampedFile.objects.filter(
        release_id=release_file.release_id, user_id=user.pk, format=release_file.format
    )
    row = mine.first()
    if row is None:
        StampedFile.objects.bulk_create(
            [
                StampedFile(
                    release_id=release_file.release_id,
                    book_id=release_file.release.book_id,
                    user_id=user.pk,
                    format=release_file.format,
                )
            ],
            ignore_conflicts=True,
        )
        row = mine.get()
    if row.status == StampedFile.Status.READY:
        return row
    if release_file.size <= settings.STAMP_INLINE_MAX_BYTES:
        stamp_row(row.pk)
        row.refresh_from_db()
    return row


def remove_for_reader(*, user_id: int, book_id: int) -> int:
    """Delete a reader's stamped copies of a book (every release), rows and files,
    unless they own it again by now (a refund reversed, a second purchase)."""
    if Entitlement.objects.active().filter(user_id=user_id, book_id=book_id).exists():
        return 0
    rows = StampedFile.objects.filter(user_id=user_id, book_id=book_id)
    names = [name for name in rows.values_list("file", flat=True) if name]
    deleted, _ = rows.delete()
    for name in names:
        private_storage.delete(name)
    return deleted
