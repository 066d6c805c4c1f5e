from datetime import datetime
from functools import cache

from django.conf import settings
from django.urls import get_script_prefix, reverse
from django.utils import timezone

from accounts.return_to import return_to

# The links in every page's header and footer: the same on every page, so
# reversed once per script prefix rather than by a {% url %} tag per link per page.
NAV = {
    "home": "home",
    "catalog": "catalog:list",
    "library": "library:index",
    "orders": "payments:orders",
    "credits": "payments:credits",
    "cart": "payments:cart",
    "books": "catalog:my_books",
    "earnings": "payments:earnings",
    "payouts": "payments:payout_details",
    "account": "account",
    "admin": "admin:index",
    "login": "account_login",
    "logout": "account_logout",
    "signup": "account_signup",
}


@cache
def _nav_urls(script_prefix: str) -> dict[str, str]:
    return {key: reverse(name) for key, name in NAV.items()}


# Per time zone: (the current year there, the moment it ends, the moment it began).
_years: dict = {}


def current_year() -> int:
    """The year in the current time zone, for the footer's copyright: what
    ``{% now "Y" %}`` printed, without formatting a date on every page (~60 µs)."""
    now = timezone.now()
    zone = timezone.get_current_timezone()
    known = _years.get(zone)
    if known is None or not known[1] > now >= known[2]:
        year = timezone.localtime(now, zone).year
        known = _years[zone] = (
            year,
            datetime(year + 1, 1, 1, tzinfo=zone),
            datetime(year, 1, 1, tzinfo=zone),
        )
    return known[0]


def store(request):
    """Values every page's chrome needs (header, footer, optional features)."""
    return {
        "STORE_NAME": settings.STORE_NAME,
        "CREDITS_ENABLED": settings.CREDITS_ENABLED,
        "nav": _nav_urls(get_script_prefix()),
        "YEAR": current_year(),
        # ?next= for the header's "Log in" and "Sign up" (accounts/return_to.py).
        "return_to": return_to(request),
    }
