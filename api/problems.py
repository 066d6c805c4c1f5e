"""Every API error as an RFC 9457 problem (``application/problem+json``)."""

from django.core.exceptions import PermissionDenied, RequestDataTooBig, ValidationError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

PROBLEM_TYPE = "application/problem+json"

TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    500: "Server error",
}


class Problem(exceptions.APIException):
    """Raise to answer with a problem of any status, a detail and extra members."""

    def __init__(self, status_code: int, detail: str, **extra):
        self.status_code = status_code
        self.extra = extra
        super().__init__(detail)


def problem_body(status_code: int, detail, *, instance: str = "", **extra) -> dict:
    body = {
        "type": "about:blank",
        "title": TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra)
    return body


def _detail(exc) -> tuple[str, dict]:
    """A one-line detail and, for field errors, ``errors`` {field: [messages]}."""
    data = exc.detail if isinstance(exc, exceptions.APIException) else None
    if isinstance(data, dict):
        errors = {k: [str(m) for m in (v if isinstance(v, list) else [v])] for k, v in data.items()}
        return "The request has invalid fields; see errors.", {"errors": errors}
    if isinstance(data, list):
        return " ".join(str(m) for m in data), {}
    return str(data if data is not None else exc), {}


def exception_handler(exc, context):
    """DRF's handler, answering in the problem format; Django's own exceptions mapped too."""
    request = context.get("request")
    if isinstance(exc, RequestDataTooBig):
        exc = Problem(413, "The request body is larger than this endpoint accepts.")
    elif isinstance(exc, ValidationError):
        exc = Problem(422, " ".join(exc.messages))
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound("No such resource, or it is not yours.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: Django's 500 (and Sentry) see it
    detail, extra = _detail(exc)
    extra.update(getattr(exc, "extra", {}))
    if isinstance(exc, exceptions.Throttled) and exc.wait is not None:
        extra["retry_after"] = int(exc.wait)
    response.data = problem_body(
        response.status_code,
        detail,
        instance=request.path if request is not None else "",
        **extra,
    )
    response.content_type = PROBLEM_TYPE
    return response


def problem_response(status_code: int, detail: str, **extra) -> Response:
    return Response(
        problem_body(status_code, detail, **extra), status=status_code, content_type=PROBLEM_TYPE
    )


def not_found(request, exception=None):
    """Any path under /api/ that names no endpoint."""
    return JsonResponse(
        problem_body(404, "No such endpoint.", instance=request.path),
        status=status.HTTP_404_NOT_FOUND,
        content_type=PROBLEM_TYPE,
    )
