"""The Content-Security-Policy header, built once rather than on every response.

django-csp builds the header from settings on every response, twice (the policy
and the report-only one): a copy of the configuration, a dataclass turned into a
dict, sorting and joining, about a tenth of a millisecond a page. Almost every
response carries the same header: no page uses a nonce (no inline scripts) and
no view overrides the policy (``@csp_update`` and friends). For those the
strings built the first time are reused; a response with its own policy, or a
request that asked for a nonce, goes through django-csp unchanged. The strings
are rebuilt when the settings change (tests' ``override_settings``).
"""

import http.client

from csp.constants import HEADER, HEADER_REPORT_ONLY
from csp.middleware import CheckableLazyObject
from csp.middleware import CSPMiddleware as DjangoCSPMiddleware
from csp.utils import build_policy
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

# Attributes django-csp's decorators set on a response to change its policy.
_OVERRIDES = (
    "_csp_config",
    "_csp_update",
    "_csp_replace",
    "_csp_config_ro",
    "_csp_update_ro",
    "_csp_replace_ro",
)
_DEBUG_EXEMPT = (http.client.INTERNAL_SERVER_ERROR, http.client.NOT_FOUND)

_built: list = []


@receiver(setting_changed)
def _forget_built(setting, **kwargs):
    if setting.startswith("CONTENT_SECURITY_POLICY") or setting == "DEBUG":
        _built.clear()


def _headers() -> list[tuple[str, str, str, tuple[str, ...]]]:
    """(header, value, the response attribute that exempts from it, excluded path
    prefixes) for the policy and the report-only policy that have a value."""
    if not _built:
        for header, report_only, exempt, name in (
            (HEADER, False, "_csp_exempt", "CONTENT_SECURITY_POLICY"),
            (HEADER_REPORT_ONLY, True, "_csp_exempt_ro", "CONTENT_SECURITY_POLICY_REPORT_ONLY"),
        ):
            value = build_policy(report_only=report_only)
            if value:
                prefixes = (getattr(settings, name, None) or {}).get("EXCLUDE_URL_PREFIXES")
                _built.append((header, value, exempt, tuple(prefixes or ())))
        _built.append(None)  # built, even when neither policy has a value
    return _built[:-1]


class CSPMiddleware(DjangoCSPMiddleware):
    """django-csp's middleware, with the header strings of a response that changes
    nothing in the policy built once."""

    def process_response(self, request, response):
        if (
            getattr(request, "_csp_nonce", None) is not None
            or any(hasattr(response, name) for name in _OVERRIDES)
            or (settings.DEBUG and response.status_code in _DEBUG_EXEMPT)
        ):
            return super().process_response(request, response)
        for header, value, exempt, prefixes in _headers():
            if (
                header not in response
                and not getattr(response, exempt, False)
                and not request.path_info.startswith(prefixes)
            ):
                response[header] = value
        # As django-csp does: a nonce asked for once the header is written is an error.
        request.csp_nonce = CheckableLazyObject(self._csp_nonce_post_response)
        return response
