from functools import cache

from django.conf import settings
from django.urls import get_script_prefix, reverse

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


def store(request):
    """Values every page's chrome needs (header, footer, optional features)."""
    return {
        "STORE_NAME": settings.STORE_NAME,
        "CREDITS_ENABLED": settings.CREDITS_ENABLED,
        "nav": _nav_urls(get_script_prefix()),
        # ?next= for the header's "Log in" and "Sign up" (accounts/return_to.py).
        "return_to": return_to(request),
    }
