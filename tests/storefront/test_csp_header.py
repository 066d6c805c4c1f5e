"""core/csp.py: the policy header built once is the header django-csp builds, and
whatever changes a response's policy still goes through django-csp."""

import pytest
from csp.constants import NONCE
from csp.decorators import csp_exempt, csp_update
from csp.exceptions import CSPNonceError
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from django.http import HttpResponse
from django.test import RequestFactory

from core.csp import CSPMiddleware

HEADER = "Content-Security-Policy"


def _serve(view, middleware=CSPMiddleware, path="/"):
    request = RequestFactory().get(path)
    return middleware(view)(request), request


def _plain(request):
    return HttpResponse("ok")


def test_the_header_is_django_csps_own_and_the_same_on_every_response():
    theirs, _ = _serve(_plain, DjangoCSPMiddleware)

    first, _ = _serve(_plain)
    second, _ = _serve(_plain)

    assert first[HEADER] == second[HEADER] == theirs[HEADER]
    assert "frame-ancestors 'none'" in first[HEADER]


def test_a_changed_setting_changes_the_header(settings):
    _serve(_plain)  # built under the old settings
    policy = {"DIRECTIVES": {"default-src": ["'self'"], "img-src": ["'self'", "https://img.test"]}}
    settings.CONTENT_SECURITY_POLICY = policy

    response, _ = _serve(_plain)

    assert "img-src 'self' https://img.test" in response[HEADER]


def test_a_report_only_policy_is_sent_too(settings):
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = {"DIRECTIVES": {"default-src": ["'none'"]}}

    response, _ = _serve(_plain)

    assert response["Content-Security-Policy-Report-Only"] == "default-src 'none'"
    assert "frame-ancestors 'none'" in response[HEADER]


def test_a_view_that_updates_the_policy_gets_its_own_header():
    @csp_update({"img-src": "https://example.test"})
    def view(request):
        return HttpResponse("ok")

    response, _ = _serve(view)

    assert "https://example.test" in response[HEADER]
    assert "https://example.test" not in _serve(_plain)[0][HEADER]


def test_an_exempt_view_gets_no_header():
    response, _ = _serve(csp_exempt()(_plain))

    assert HEADER not in response


def test_a_nonce_used_by_the_page_is_in_its_header_and_no_other(settings):
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"script-src": ["'self'", NONCE]}}

    def view(request):
        return HttpResponse(str(request.csp_nonce))

    response, _ = _serve(view)

    nonce = response.content.decode()
    assert f"'nonce-{nonce}'" in response[HEADER]
    assert "nonce-" not in _serve(_plain)[0][HEADER]


def test_a_nonce_asked_for_after_the_header_was_written_is_an_error():
    _, request = _serve(_plain)

    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)


def test_a_header_the_view_set_is_kept():
    def view(request):
        response = HttpResponse("ok")
        response[HEADER] = "default-src 'none'"
        return response

    response, _ = _serve(view)

    assert response[HEADER] == "default-src 'none'"
