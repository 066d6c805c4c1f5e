"""Book page views, counted off the request path.

A view of a book page is counted in the worker's memory and added with one
atomic ``incr`` to a cache counter per book and day at most once a second
(``BOOK_VIEWS_PUSH_SECONDS``; Redis in production, shared by every worker;
locmem in development):
no database write in the request, and whole-page cache hits count too, since
the counting decorator sits outside the page cache. Counters are keyed by the
book's slug because a cached page is served without knowing the book's id.

``flush_views`` (Celery beat, every few minutes) copies the counters of today
and yesterday into ``BookDailyStats``. It writes the counter's value, never adds
to the stored one, so running it twice (a retried task, two beats) changes
nothing. A counter that came back lower than the stored figure (the cache was
emptied) is topped up with the stored figure first, so what was flushed is
never lost; views counted after the last flush and before the loss are.

Decision: every page answered 200 to a GET counts, whoever asks (readers, the
book's authors, crawlers): the figure is "page views", not "people".
"""

import threading
import time
from collections import Counter
from datetime import date, timedelta
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from core.cache import add_to_counter

from .models import Book, BookDailyStats

# Counters outlive the days a flush reads (today and yesterday) with room to spare.
COUNTER_TTL = 4 * 86400
FLUSH_BATCH = 500

# Views counted in this process and not yet added to the shared counters.
_held: Counter[str] = Counter()
_last_push = [0.0]
_lock = threading.Lock()


def counter_key(slug: str, day: date) -> str:
    return f"bookviews:{day.isoformat()}:{slug}"


def count_view(slug: str, day: date | None = None) -> None:
    """One view of the book at ``slug``: counted in this process, added to the
    shared counter at most every ``BOOK_VIEWS_PUSH_SECONDS`` (one cache round trip
    per key then, not one per view; a worker that dies loses that long's views)."""
    key = counter_key(slug, day or timezone.localdate())
    with _lock:
        _held[key] += 1
        due = time.monotonic() - _last_push[0] >= settings.BOOK_VIEWS_PUSH_SECONDS
    if due:
        push_views()


def push_views() -> None:
    """Add the views this process holds to the shared counters."""
    with _lock:
        held = dict(_held)
        _held.clear()
        _last_push[0] = time.monotonic()
    for key, views in held.items():
        add_to_counter(key, views, timeout=COUNTER_TTL)


def counts_views(view):
    """Count a book page's successful GETs; put it outside ``cache_for_anonymous``."""

    @wraps(view)
    def counting(request, slug, *args, **kwargs):
        response = view(request, slug, *args, **kwargs)
        if request.method == "GET" and response.status_code == 200:
            count_view(slug)
        return response

    return counting


def live_views(slug: str, day: date) -> int:
    """The counter as it stands (not yet flushed)."""
    return cache.get(counter_key(slug, day)) or 0


def flush_views(days: list[date] | None = None) -> int:
    """Copy the view counters of ``days`` (default: yesterday and today) into
    ``BookDailyStats``; returns how many rows were written or changed."""
    today = timezone.localdate()
    days = days or [today - timedelta(days=1), today]
    changed = 0
    books = Book.objects.order_by("pk").values_list("pk", "slug")
    batch: list[tuple[int, str]] = []
    for row in books.iterator(chunk_size=FLUSH_BATCH):
        batch.append(row)
        if len(batch) == FLUSH_BATCH:
            changed += _flush_batch(batch, days)
            batch = []
    if batch:
        changed += _flush_batch(batch, days)
    return changed


def _flush_batch(books: list[tuple[int, str]], days: list[date]) -> int:
    keys = {counter_key(slug, day): (pk, day) for pk, slug in books for day in days}
    counters = cache.get_many(list(keys))
    if not counters:
        return 0
    stored = {
        (book_id, day): views
        for book_id, day, views in BookDailyStats.objects.filter(
            book_id__in={keys[key][0] for key in counters}, day__in=days
        ).values_list("book_id", "day", "views")
    }
    rows = []
    for key, value in counters.items():
        book_id, day = keys[key]
        flushed = stored.get((book_id, day))
        if flushed is not None and value < flushed:
            # The cache lost the counter: start it again from what was flushed.
            value = cache.incr(key, flushed)
        if value != flushed:
            rows.append(BookDailyStats(book_id=book_id, day=day, views=value))
    # One upsert: a row another flush created meanwhile is updated, not a conflict.
    BookDailyStats.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["book", "day"], update_fields=["views"]
    )
    return len(rows)
