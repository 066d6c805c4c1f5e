"""The library page's list of books, cached per reader until something on it changes.

A reader's list changes when one of their entitlements does (a purchase, a
refund, a download clearing the "updated" mark) or when the catalog does (a
title, a cover, a new version). A cached list is stored with both: the reader's
generation (core/reader_pages.py: bumped by every change of theirs, entitlements
included, now and at commit), and the
catalog generation of the page cache; read back under other numbers, it is a
miss. Links that expire (the refund link) bound the entry's lifetime.
"""

from dataclasses import dataclass
from datetime import datetime
from hashlib import blake2b

from django.core.cache import cache

from core.pagecache import GENERATION_KEY, generation
from core.reader_pages import forget_reader
from core.reader_pages import generation_key as _generation_key

TIMEOUT = 300


def forget(user_id: int) -> None:
    """Drop the reader's cached list (and every cached page of theirs) now, and
    again once the current transaction commits: one generation per reader
    (core/reader_pages.py)."""
    forget_reader(user_id)


@dataclass(frozen=True)
class CachedList:
    """One view of a reader's list (search, sort, page): its key, the generations
    it was read under, and its HTML when the cache held a current one."""

    key: str
    stamp: tuple[int, int]
    html: str | None
    # When the first link the list shows ends (a refund link), if any.
    expires: datetime | None = None


def lookup(user_id: int, **params) -> CachedList:
    """The cached list and both generations, in one cache round trip. An entry
    stored under other generations (something changed since) is a miss."""
    query = "&".join(f"{name}={value}" for name, value in sorted(params.items()))
    key = f"library:list:{user_id}:{blake2b(query.encode(), digest_size=12).hexdigest()}"
    own_key = _generation_key(user_id)
    found = cache.get_many([key, own_key, GENERATION_KEY])
    stamp = (
        found.get(own_key) or generation(own_key),
        found.get(GENERATION_KEY) or generation(),
    )
    entry = found.get(key)
    if entry and entry[0] == stamp:
        return CachedList(key, stamp, entry[1], entry[2])
    return CachedList(key, stamp, None)


def first_to_expire(expiring: list[datetime], *, now: datetime) -> datetime | None:
    return min((moment for moment in expiring if moment > now), default=None)


def store(entry: CachedList, html: str, *, now: datetime, expiring: list[datetime]) -> None:
    """Cache ``html`` under the generations it was read under, until the first of
    ``expiring`` (links it shows until then) passes."""
    expires = first_to_expire(expiring, now=now)
    timeout = TIMEOUT
    if expires is not None:
        timeout = min(timeout, int((expires - now).total_seconds()))
    if timeout > 0:
        cache.set(entry.key, (entry.stamp, html, expires), timeout)
