"""Every POST needs the CSRF token, but for views whose proof is elsewhere."""

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.security.test_authorization_matrix import MATRIX, OK, log_in_as, world  # noqa: F401

pytestmark = pytest.mark.django_db

# The Stripe webhook proves itself with its signature; the one-click unsubscribe
# (RFC 8058, POSTed by mail clients) with its signed token.
# The REST API takes bearer API keys only, never the session cookie, so a forged
# cross-site request carries no credential (docs/architecture.md, "The REST API").
API = {
    name
    for name in MATRIX
    if name.startswith("api:") and name not in {"api:keys", "api:key_revoke", "api:not_found"}
}
EXEMPT = {"payments:stripe_webhook", "library:unsubscribe", *API}


def exempt_views(patterns=None, namespace=""):
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        if isinstance(pattern, URLResolver):
            prefix = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from exempt_views(pattern.url_patterns, prefix)
        elif isinstance(pattern, URLPattern) and getattr(pattern.callback, "csrf_exempt", False):
            yield namespace + (pattern.name or pattern.pattern.describe())


def test_only_the_signed_views_skip_the_csrf_check():
    # Django's, allauth's and the admin's views included.
    assert set(exempt_views()) == EXEMPT


POSTS = sorted(name for name, (method, _, _) in MATRIX.items() if method == "post")


@pytest.mark.parametrize("name", sorted(set(POSTS) - EXEMPT))
def test_a_post_without_the_token_is_refused_before_the_view(world, name):  # noqa: F811
    _method, rule, args = MATRIX[name]
    # A persona the view lets in; any persona for a view that refuses everyone's
    # empty form (the CSRF check runs before it either way).
    persona = next((p for p, outcome in rule.items() if outcome == OK), next(iter(rule)))
    client = Client(enforce_csrf_checks=True)
    log_in_as(client, world, persona)

    response = client.post(reverse(name, args=args(world)))

    assert response.status_code == 403


@pytest.mark.parametrize(
    "name", ["account_login", "account_signup", "account_reset_password", "account_logout"]
)
def test_allauths_forms_need_the_token_too(name):
    client = Client(enforce_csrf_checks=True)
    assert client.post(reverse(name), {"login": "x@example.com"}).status_code == 403
