"""Whole-page cache for signed-in readers (the book page, checkout, orders, credits,
account, library).

Such a page is a function of the reader's session (the header's cart count), the
path and its declared parameters, the reader's own data and the catalog. It is
stored under the **session key** and the normalised path (two devices of one
reader never share an entry, nor two readers), with the reader's generation
(``reader:generation:<user id>``, bumped by ``forget_reader``) and the catalog
generation (core.pagecache) it was rendered under, and served only while both
are still current: the page and both numbers come back in one ``get_many``.

A hit is served before the view without loading the user: the entry holds the
user id and the session's password hash it was rendered for, and is served only
to a session holding the same two (a password change or deactivation saves the
user row, which bumps the reader's generation). Nothing of one request leaks into
another's page: the CSRF token and the one-time ``checkout_token`` values are
stored as placeholders and filled in afresh on every hit.

What bumps a reader's generation (the invalidation sources) is listed in
core/reader_sources.py and docs/architecture.md; TIMEOUT bounds whatever no
signal sees (a refund window closing, a pre-order's files arriving). Pages with
something time-bound may end their entry sooner with ``expire_page_at``.
"""

import hashlib
import re
import uuid
from datetime import datetime
from functools import partial, wraps

from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY
from django.core.cache import cache
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers

from .pagecache import GENERATION_KEY, _restrict_to, forget_now_and_at_commit, generation

TIMEOUT = 300
CSRF_PLACEHOLDER = b"@@reader-page-csrf@@"
_CSRF_INPUT = re.compile(rb'name="csrfmiddlewaretoken" value="([A-Za-z0-9]{32,128})"')
# One-time form tokens (one order per page shown): a fresh uuid on every hit.
_ONE_TIME_INPUT = re.compile(
    rb'(name="checkout_token" value=")'
    rb"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
)
_ONE_TIME_PLACEHOLDER = re.compile(rb"@@reader-page-token-\d+@@")
_KEPT_HEADERS = ("content-language", "x-frame-options", "cache-control")


def generation_key(user_id) -> str:
    return f"reader:generation:{user_id}"


def forget_reader(user_id) -> None:
    """Drop every page cached for the reader (every session of theirs) now, and again
    once the current transaction commits: a page rendered in between, from the data
    before the commit, is never served after it."""
    if not user_id:
        return
    forget_now_and_at_commit(generation_key(user_id))


def expire_page_at(request, moment: datetime | None) -> None:
    """The page being rendered shows something that changes at ``moment`` (a refund
    link that closes): its cached copy ends then at the latest."""
    if moment is not None:
        request.reader_page_expiring = [*getattr(request, "reader_page_expiring", ()), moment]


def never_cache_page(request) -> None:
    """The page being rendered is this one request's (a preview, a one-off notice)."""
    request.reader_page_uncacheable = True


def _reader(request):
    """(user id, session auth hash) of the signed-in session, or None."""
    session = getattr(request, "session", None)
    if session is None or not session.session_key:
        return None
    user_id = session.get(SESSION_KEY)
    if not user_id:
        return None
    return str(user_id), session.get(HASH_SESSION_KEY, "")


def _has_messages(request) -> bool:
    # An emptied cookie (a browser may send it back until it expires) holds none.
    return bool(request.COOKIES.get("messages")) or bool(request.session.get("_messages"))


def _page_key(request) -> str:
    ident = f"{request.session.session_key}\n{request.get_full_path()}"
    return "reader:page:" + hashlib.sha256(ident.encode()).hexdigest()


def _placeholders(content: bytes) -> bytes | None:
    """The page with its per-response values replaced by placeholders, or None if
    its CSRF token cannot be told apart (never cache what cannot be made neutral)."""
    tokens = set(_CSRF_INPUT.findall(content))
    if len(tokens) > 1:
        return None
    for token in tokens:
        content = content.replace(token, CSRF_PLACEHOLDER)
    count = iter(range(1_000_000))
    return _ONE_TIME_INPUT.sub(
        lambda m: m.group(1) + b"@@reader-page-token-%d@@" % next(count), content
    )


def _filled(request, content: bytes) -> bytes:
    if CSRF_PLACEHOLDER in content:
        content = content.replace(CSRF_PLACEHOLDER, get_token(request).encode())
    return _ONE_TIME_PLACEHOLDER.sub(lambda m: str(uuid.uuid4()).encode(), content)


def _storable(request, response, reader) -> bool:
    if response.status_code != 200 or response.streaming or response.cookies:
        return False
    if getattr(request, "reader_page_uncacheable", False) or request.session.modified:
        return False
    if _reader(request) != reader:  # logged in or out, or the session changed hands
        return False
    user = request.user
    if not user.is_authenticated or user.is_staff or str(user.pk) != reader[0]:
        return False
    storage = getattr(request, "_messages", None)
    # A message added or shown by this page is this one response's.
    return not (
        storage is not None and (storage.used or getattr(storage, "_queued_messages", None))
    )


def _timeout(request) -> int:
    now = timezone.now()
    timeout = TIMEOUT
    for moment in getattr(request, "reader_page_expiring", ()):
        timeout = min(timeout, int((moment - now).total_seconds()))
    return timeout


def _private(response) -> None:
    patch_cache_control(response, private=True)
    patch_vary_headers(response, ("Cookie",))


def cache_for_readers(view=None, *, params: tuple[str, ...] = (), personal: tuple[str, ...] = ()):
    """Serve ``view`` from the cache to a signed-in reader's session on a repeat view.

    ``params`` names the query parameters the page depends on (as
    ``cache_for_anonymous``: the view sees only those, normalised); a request
    carrying one of ``personal`` (a coupon link) goes to the view untouched and is
    never cached. Anonymous visitors go to the view untouched too (which may be
    ``cache_for_anonymous``'s)."""
    if view is None:
        return partial(cache_for_readers, params=params, personal=personal)

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method not in ("GET", "HEAD") or any(
            request.GET.get(name, "").strip() for name in personal
        ):
            return view(request, *args, **kwargs)
        reader = _reader(request)
        if reader is None or _has_messages(request):
            return view(request, *args, **kwargs)
        _restrict_to(request, params)
        key = _page_key(request)
        own_key = generation_key(reader[0])
        found = cache.get_many([key, own_key, GENERATION_KEY])
        stamp = (
            found.get(own_key) or generation(own_key),
            found.get(GENERATION_KEY) or generation(),
        )
        cached = found.get(key)
        if cached is not None and cached[0] == stamp and cached[1] == reader:
            _stamp, _reader_seen, content, content_type, headers = cached
            response = HttpResponse(_filled(request, content), content_type=content_type)
            for name, value in headers.items():
                response[name] = value
            _private(response)
            response["X-Page-Cache"] = "hit"
            return response
        response = view(request, *args, **kwargs)
        if _storable(request, response, reader):
            content = _placeholders(response.content)
            timeout = _timeout(request)
            if content is not None and timeout > 0:
                _private(response)
                headers = {k: v for k, v in response.items() if k.lower() in _KEPT_HEADERS}
                entry = (stamp, reader, content, response["Content-Type"], headers)
                cache.set(key, entry, timeout)
                response["X-Page-Cache"] = "miss"
        return response

    return wrapper
