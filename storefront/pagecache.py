"""Whole-page cache for anonymous visitors.

Pages that are the same for every anonymous reader (home, catalog, book and
author pages) are served from the cache. Their keys include a "catalog
generation" number that every catalog change bumps (catalog.receivers), so a
change shows at once; the timeout bounds what no signal sees (sales counts).
Logged-in readers always get a fresh page (it shows their name, their books).
"""

from functools import wraps
from urllib.parse import urlencode

from django.core.cache import cache
from django.http import HttpResponse

GENERATION_KEY = "catalog:generation"
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
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 2, timeout=None)


def _cacheable(request) -> bool:
    if request.method not in ("GET", "HEAD") or request.user.is_authenticated:
        return False
    # A pending flash message ("You have signed out.") belongs to this visitor only.
    return "messages" not in request.COOKIES and not request.session.get("_messages")


# Only parameters that change the page make a new entry: "?utm_source=..." or a
# random parameter cannot fill the cache with copies of one page.
KEY_PARAMETERS = ("q", "category", "language", "sort", "page")


def _page_key(request) -> str:
    params = urlencode(
        sorted((k, request.GET[k][:200]) for k in KEY_PARAMETERS if k in request.GET)
    )
    return f"{request.path}?{params}"


def cache_for_anonymous(view):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not _cacheable(request):
            return view(request, *args, **kwargs)
        key = f"page:{generation()}:{_page_key(request)}"
        cached = cache.get(key)
        if cached is not None:
            content, content_type, headers = cached
            response = HttpResponse(content, content_type=content_type)
            for name, value in headers.items():
                response[name] = value
            response["X-Page-Cache"] = "hit"
            return response
        response = view(request, *args, **kwargs)
        if response.status_code == 200 and not response.streaming and not response.cookies:
            headers = {k: v for k, v in response.items() if k.lower() in ("content-language",)}
            cache.set(key, (response.content, response["Content-Type"], headers), TIMEOUT)
            response["X-Page-Cache"] = "miss"
        return response

    return wrapper
