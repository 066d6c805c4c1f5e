"""The library page's list of books, cached per reader until something on it changes.

A reader's list changes when one of their entitlements does (a purchase, a
refund, a download clearing the "updated" mark) or when the catalog does (a
title, a cover, a new version). A cached list is stored with both: the reader's
own generation, bumped by every entitlement change (now and at commit), and the
catalog generation of the page cache; read back under other numbers, it is a
miss. Links that expire (the refund link) bound the entry's lifetime.
"""

from dataclasses import dataclass
from datetime import datetime
from hashlib import blake2b

from django.core.cache import cache
from django.db import transaction

from core.pagecache import GENERATION_KEY, bump_generation, generation

TIMEOUT = 300


def _generation_key(user_id: int) -> str:
    return f"library:generation:{user_id}"


def forget(user_id: int) -> None:
    """Drop the reader's cached list now, and again once the current transaction
    commits: a list rendered between the two (from the data before the commit)
    is never served after it."""
    key = _generation_key(user_id)
    bump_generation(key)
    transaction.on_commit(lambda: bump_generation(key), robust=True)


@dataclass(frozen=True)
class CachedList:
    """One view of a reader's list (search, sort, page): its key, the generations
    it was read under, and its HTML when the cache held a current one."""

    key: str
    stamp: tuple[int, int]
    html: str | None


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
    return CachedList(key, stamp, entry[1] if entry and entry[0] == stamp else None)


def store(entry: CachedList, html: str, *, now: datetime, expiring: list[datetime]) -> None:
    """Cache ``html`` under the generations it was read under, until the first of
    ``expiring`` (links it shows until then) passes."""
    timeout = TIMEOUT
    for moment in expiring:
        if moment > now:
            timeout = min(timeout, int((moment - now).total_seconds()))
    if timeout > 0:
        cache.set(entry.key, (entry.stamp, html), timeout)
