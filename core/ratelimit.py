"""Request rate limits, per client IP and per account, counted in the Django cache.

``client_ip`` is the one place a request's client address comes from: our own
limits below and allauth's (login, sign-up, password reset, through
``accounts.adapter``) all call it. ``X-Forwarded-For`` counts only as far as
``TRUSTED_PROXY_COUNT`` proxies of ours appended to it; with the default 0 it is
ignored, so a client cannot pick its own address to reset or dodge a limit.

``consume`` counts one attempt against every rate of an action (``RATE_LIMITS``
in settings, written like allauth's: ``"10/h/ip,5/h/account"``). Windows are
fixed (the counter of the current minute/hour), kept with the cache's atomic
``incr``, so two processes never lose a count.
"""

import contextlib
import hashlib
import ipaddress
import logging
import math
import re
import time
from dataclasses import dataclass, field
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.shortcuts import render

log = logging.getLogger(__name__)

UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _clean_ip(value: str | None) -> str | None:
    try:
        return str(ipaddress.ip_address((value or "").strip()))
    except ValueError:
        return None


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or what our own proxies say it is.

    ``TRUSTED_CLIENT_IP_HEADER`` (e.g. ``X-Real-IP``) names a header that our
    proxy always overwrites; otherwise, with ``TRUSTED_PROXY_COUNT`` = N > 0,
    the N-th ``X-Forwarded-For`` entry from the right is the client (each of our
    proxies appends the address it got the request from; anything to the left
    of that came from the client and is ignored). A header that does not fit the
    configuration falls back to REMOTE_ADDR: a stricter limit, never a bypass.
    """
    remote = _clean_ip(request.META.get("REMOTE_ADDR")) or "unknown"
    header = settings.TRUSTED_CLIENT_IP_HEADER
    if header:
        return _clean_ip(request.headers.get(header)) or remote
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = request.headers.get("X-Forwarded-For", "")
    if count <= 0 or not forwarded:
        return remote
    hops = [hop.strip() for hop in forwarded.split(",")]
    if len(hops) < count:
        log.warning(
            "X-Forwarded-For has %d entries but TRUSTED_PROXY_COUNT is %d", len(hops), count
        )
        return remote
    return _clean_ip(hops[-count]) or remote


def _ip_bucket(ip: str) -> str:
    """IPv6 clients usually hold a whole /64: count it as one address (as allauth does)."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return ip
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return ip


@dataclass(frozen=True)
class Rate:
    amount: int
    seconds: int
    scope: str

    def __str__(self):
        return f"{self.amount}/{self.seconds}s/{self.scope}"


def parse_rates(text: str) -> list[Rate]:
    """ "10/h/ip,5/5m/account" -> [Rate(10, 3600, "ip"), Rate(5, 300, "account")]."""
    rates = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        match = re.fullmatch(r"(\d+)/(\d*)([smhd])/(ip|account)", part)
        if match is None:
            raise ValueError(f"bad rate {part!r}: use amount/period/ip|account, e.g. 5/10m/ip")
        amount, number, unit, scope = match.groups()
        rates.append(Rate(int(amount), int(number or 1) * UNITS[unit], scope))
    return rates


@dataclass
class Usage:
    """One counted attempt; ``give_back`` un-counts it (a login that succeeded)."""

    allowed: bool = True
    keys: list[str] = field(default_factory=list)
    retry_after: int = 0  # seconds until every window over its limit has ended

    def give_back(self):
        for key in self.keys:
            with contextlib.suppress(ValueError):  # the window ended meanwhile
                cache.decr(key)


def _count(key: str, seconds: int) -> int:
    cache.add(key, 0, timeout=seconds)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.set(key, 1, timeout=seconds)
        return 1


def consume(request, action: str, *, account=None) -> Usage:
    """Count one attempt at ``action`` by this client (and ``account``, when given:
    a user id or an e-mail address, compared case-insensitively)."""
    usage = Usage()
    now = time.time()
    for rate in parse_rates(settings.RATE_LIMITS.get(action, "")):
        if rate.scope == "account":
            if account in (None, ""):
                continue
            who = hashlib.sha256(str(account).strip().lower().encode()).hexdigest()[:32]
        else:
            who = _ip_bucket(client_ip(request))
        window = int(now // rate.seconds)
        key = f"ratelimit:{action}:{rate}:{who}:{window}"
        usage.keys.append(key)
        if _count(key, rate.seconds) > rate.amount:
            usage.allowed = False
            left = math.ceil(rate.seconds - now % rate.seconds)
            usage.retry_after = max(usage.retry_after, left)
    if not usage.allowed:
        log.warning("rate limit %s reached by %s", action, client_ip(request))
    return usage


def too_many_requests(request, exception=None):
    """The 429 page: ours and allauth's (``handler429`` in the URL conf)."""
    response = render(request, "429.html", status=429)
    response["Retry-After"] = "60"
    return response


def limit(action: str, *, account=None, failures_only=False):
    """Limit a view's POSTs: over the limit, a 429 page and the view never runs.

    ``account(request)`` names the account the attempt is about. With
    ``failures_only``, an attempt that ends in a redirect (it worked) is given
    back, so only failures count (the admin's login).
    """

    def decorator(view):
        @wraps(view)
        def limited(request, *args, **kwargs):
            if request.method != "POST":
                return view(request, *args, **kwargs)
            usage = consume(request, action, account=account(request) if account else None)
            if not usage.allowed:
                return too_many_requests(request)
            response = view(request, *args, **kwargs)
            if failures_only and response.status_code in (301, 302, 303):
                usage.give_back()
            return response

        return limited

    return decorator
