"""Where a sign-in or sign-up link brings the reader back to: the page they left.

Every "Log in" and "Sign up" link (the header's included) carries ``?next=`` this
path, and allauth sends the reader there after logging in or signing up (after
the e-mail confirmation too: see ``AccountAdapter``). On the sign-in pages
themselves the links pass on the ``next`` they were given, so going from "Log in"
to "Create an account" still ends on the cart or checkout the reader left.
"""

from django.utils.http import url_has_allowed_host_and_scheme

# allauth's pages are named account_*, ours accounts:*: the sign-in area.
SIGN_IN_NAMESPACE = "accounts"
SIGN_IN_URL_PREFIX = "account_"


def _is_sign_in_page(request) -> bool:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return False
    return SIGN_IN_NAMESPACE in match.namespaces or (match.url_name or "").startswith(
        SIGN_IN_URL_PREFIX
    )


def is_safe_next(request, url: str | None) -> bool:
    return bool(url) and url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )


def return_to(request) -> str:
    """The path a sign-in link on this page should come back to ("" for none:
    the home page, or a sign-in page given no safe ``next``)."""
    if _is_sign_in_page(request):
        url = request.GET.get("next", "")
        return url if is_safe_next(request, url) else ""
    path = request.get_full_path()
    return "" if path == "/" else path
