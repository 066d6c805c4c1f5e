"""The library page's list of books, cached per reader until something on it changes.

A reader's list changes when one of their entitlements does (a purchase, a
refund, a download clearing the "updated" mark) or when the catalog does (a
title, a cover, a new version). The cached list's key holds both: the reader's
own generation, bumped after every entitlement change commits, and the catalog
generation of the page cache. Links that expire (the refund link) bound the
entry's lifetime.
"""

from datetime import datetime
from hashlib import blake2b

from django.core.cache import cache
from django.db import transaction

from storefront.pagecache import GENERATION_KEY, bump_generation, generations

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


def list_key(user_id: int, **params) -> str:
    """The cache key of one view of the reader's list (search, sort, page)."""
    query = "&".join(f"{name}={value}" for name, value in sorted(params.items()))
    digest = blake2b(query.encode(), digest_size=12).hexdigest()
    own, catalog = generations(_generation_key(user_id), GENERATION_KEY)
    return f"library:list:{user_id}:{own}:{catalog}:{digest}"


def get(key: str) -> str | None:
    return cache.get(key)


def put(key: str, html: str, *, now: datetime, expiring: list[datetime]) -> None:
    """Cache ``html`` until the first of ``expiring`` (links it shows until then) passes."""
    timeout = TIMEOUT
    for moment in expiring:
        if moment > now:
            timeout = min(timeout, int((moment - now).total_seconds()))
    if timeout > 0:
        cache.set(key, html, timeout)
