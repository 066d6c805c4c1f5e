"""Whole-page cache for anonymous visitors.

Pages that are the same for every anonymous reader (home, catalog, book and
author pages) are served from the cache. Each is stored with the "catalog
generation" it was rendered under, a number every catalog change bumps
(catalog.receivers), and served only under that number, so a change shows at
once; the timeout bounds what no signal sees (sales counts).
Logged-in readers always get a fresh page (it shows their name, their books).

A cached page must be a function of its key, or one visitor's request decides
what every later visitor sees ("?utm_source=<script>" reflected in a link). So
a cached view declares the query parameters it uses; it and its templates see
only those, normalised, and the same normalised parameters make the key and the
page's canonical URL (settings.SITE_URL, never the Host header).
"""

import hashlib
from functools import partial, wraps
from urllib.parse import urlencode

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.http import HttpResponse, QueryDict

from .cache import incr_or_create

GENERATION_KEY = "catalog:generation"
# A session value that puts something of this visitor's in the header (the cart's
# count): while it is set, their pages are rendered, never served from the cache.
PERSONAL_HEADER_KEY = "header_count"
TIMEOUT = 300


def generation(key: str = GENERATION_KEY) -> int:
    """The current number of a cache generation: part of every key cached under it."""
    value = cache.get(key)
    if value is None:
        cache.add(key, 1, timeout=None)
        value = cache.get(key) or 1
    return value


def bump_generation(key: str = GENERATION_KEY) -> None:
    """Forget everything cached under ``key``'s generation (by default: every
    cached catalog page, called whenever the catalog changes)."""
    # One round trip on Redis; a missing key counts up past 1, the number a reader
    # takes for it (``generation``), monotonic however many bump at once.
    if incr_or_create(key) == 1:
        incr_or_create(key)


def forget_now_and_at_commit(key: str = GENERATION_KEY) -> None:
    """Bump ``key``'s generation now, and again once the current transaction
    commits: a page rendered in between (from the data before the commit, under the
    number bumped now) is never served after it. Outside a transaction the change is
    committed already, and one bump is enough."""
    bump_generation(key)
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(partial(bump_generation, key), robust=True)


def _cacheable(request) -> bool:
    if request.method not in ("GET", "HEAD") or request.user.is_authenticated:
        return False
    # A pending flash message ("You have signed out.") belongs to this visitor only.
    if request.session.get(PERSONAL_HEADER_KEY):
        return False
    return "messages" not in request.COOKIES and not request.session.get("_messages")


MAX_PARAMETER_LENGTH = 200


def _normalised(name: str, value: str) -> str:
    value = value.strip()[:MAX_PARAMETER_LENGTH]
    if name == "page":
        # "02" shows page 2, "abc" and "1" page 1 (no parameter): one key and
        # one canonical URL per page shown.
        return str(int(value)) if value.isascii() and value.isdigit() and int(value) > 1 else ""
    return value


def _page_parameters(request, names) -> QueryDict:
    """The parameters among ``names`` that the request has, normalised: one value
    each (the last, as ``QueryDict.get``), trimmed and bounded, in name order;
    empty ones and every other parameter dropped."""
    pairs = ((name, _normalised(name, request.GET.get(name, ""))) for name in sorted(names))
    return QueryDict(urlencode([(name, value) for name, value in pairs if value]))


def _restrict_to(request, names) -> None:
    """Let the view and its templates see only the normalised ``names``:
    ``request.GET``, ``get_full_path()`` (the login link's ``next=``) and
    ``request.canonical_url`` all agree with the cache key."""
    params = _page_parameters(request, names)
    request.GET = params
    request.META["QUERY_STRING"] = params.urlencode()
    request.canonical_url = settings.SITE_URL + request.get_full_path()


def personal_param(request, name: str) -> str:
    """A parameter the cached view declared ``personal`` (a coupon code), or ""."""
    return getattr(request, "personal_params", {}).get(name, "")


def cache_for_anonymous(view=None, *, params: tuple[str, ...] = (), personal: tuple[str, ...] = ()):
    """Serve ``view`` from the cache to anonymous visitors.

    ``params`` names the query parameters the page depends on; the view never
    sees any other (for every visitor, so a logged-in page behaves the same).
    ``personal`` names parameters that make a page one visitor's (a coupon link's
    price): a request carrying one is rendered and never cached, so a coupon page
    is never served without its coupon nor the plain page with one. The view reads
    them with ``personal_param`` (they are not in ``request.GET``).
    """
    if view is None:
        return partial(cache_for_anonymous, params=params, personal=personal)

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        request.personal_params = {
            name: request.GET.get(name, "").strip()[:MAX_PARAMETER_LENGTH]
            for name in personal
            if request.GET.get(name, "").strip()
        }
        _restrict_to(request, params)
        if not _cacheable(request) or request.personal_params:
            return view(request, *args, **kwargs)
        # Hashed: a long search or odd characters make no invalid cache key. The page
        # is stored with the generation it was rendered under and read back with the
        # current one in one round trip; under another generation it is a miss.
        key = "page:" + hashlib.sha256(request.get_full_path().encode()).hexdigest()
        found = cache.get_many([key, GENERATION_KEY])
        current = found.get(GENERATION_KEY) or generation()
        cached = found.get(key)
        if cached is not None and cached[0] == current:
            _stamp, content, content_type, headers = cached
            response = HttpResponse(content, content_type=content_type)
            for name, value in headers.items():
                response[name] = value
            response["X-Page-Cache"] = "hit"
            return response
        response = view(request, *args, **kwargs)
        if response.status_code == 200 and not response.streaming and not response.cookies:
            headers = {k: v for k, v in response.items() if k.lower() in ("content-language",)}
            entry = (current, response.content, response["Content-Type"], headers)
            cache.set(key, entry, TIMEOUT)
            response["X-Page-Cache"] = "miss"
        return response

    return wrapper
