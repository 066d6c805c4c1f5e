"""Downloads counted for the author's stats, off the download's path.

Adding one to ``ReleaseFile.download_count`` in the request made every download
of a file wait for the one before it (a new version's file is one hot row: every
reader fetches it at once). A download now adds one to a counter in the cache;
a task, queued once per file at a time, moves the counted downloads into the row.
With Celery eager (the embedded default, the tests) that happens at once; with a
worker, within ``FLUSH_DELAY`` seconds. A counter the cache loses before its flush
loses those downloads: these are statistics, not money.
"""

from celery import shared_task
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache
from django.db.models import F

from catalog.models import ReleaseFile
from core.cache import add_to_counter

FLUSH_DELAY = 10  # seconds: downloads of one file within them are written together
QUEUED_TIMEOUT = FLUSH_DELAY * 12  # a queue mark whose flush was lost stops blocking the next


def _pending(file_id: int) -> str:
    return f"downloads:pending:{file_id}"


def _queued(file_id: int) -> str:
    return f"downloads:queued:{file_id}"


def count(file_id: int) -> None:
    """One download of the file: counted now, written by the flush it queues."""
    if _count_and_mark(file_id):
        flush_download_count.apply_async((file_id,), countdown=FLUSH_DELAY)


def _count_and_mark(file_id: int) -> bool:
    """Add one to the file's pending count and set its queue mark if missing; whether
    it was missing (a flush is to be queued). On Redis both go in one round trip
    (``INCRBY`` and ``SET NX``, which is what ``add_to_counter`` and ``cache.add``
    do in up to four); on another cache, through the cache's API."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        add_to_counter(_pending(file_id))
        return cache.add(_queued(file_id), 1, timeout=QUEUED_TIMEOUT)
    pending = backend.make_key(_pending(file_id))
    queued = backend.make_key(_queued(file_id))
    # Django's Redis cache stores an int as itself, so INCRBY's counter reads back
    # through cache.get (flush); a missing counter starts at 0 with no expiry, as
    # add_to_counter creates it.
    pipe = backend._cache.get_client(pending, write=True).pipeline(transaction=False)
    pipe.incrby(pending, 1)
    pipe.set(queued, 1, nx=True, ex=QUEUED_TIMEOUT)
    return bool(pipe.execute()[1])


def flush(file_id: int) -> int:
    """Move the file's counted downloads into its row; how many were moved. The queue
    mark goes first: a download counted after this began queues the next flush."""
    cache.delete(_queued(file_id))
    pending = cache.get(_pending(file_id)) or 0
    if pending:
        # Take away only what is written: downloads counted meanwhile stay pending.
        cache.decr(_pending(file_id), pending)
        ReleaseFile.objects.filter(pk=file_id).update(download_count=F("download_count") + pending)
    return pending


@shared_task(acks_late=True)
def flush_download_count(file_id: int) -> int:
    """Queued by ``count``, once per file at a time (defined here, beside its one caller)."""
    return flush(file_id)
