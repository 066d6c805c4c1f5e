"""Structured logs: every record knows the request (or task) it belongs to.

One id per request, held in a context variable: ``RequestIdMiddleware`` binds it
(the proxy's ``X-Request-ID`` when it is safe, a new one otherwise) and returns it
as ``X-Request-ID``; ``RequestIdFilter`` copies it onto every log record; Celery
tasks published during the request carry it in a message header and bind it again
while they run (``storefront/celery.py``), so a receipt e-mail's logs name the
request that paid the order. ``JsonFormatter`` writes one JSON object a line
(``LOG_FORMAT=json``, the default when ``DEBUG`` is off).
"""

import contextlib
import contextvars
import json
import logging
import re
import uuid
from datetime import UTC, datetime

HEADER = "X-Request-ID"
# What we accept from outside: short, and nothing that could forge a log line or a header.
_SAFE_ID = re.compile(r"[A-Za-z0-9-]{1,64}", re.ASCII)
NO_REQUEST = "-"

_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "storefront_request_id", default=None
)


def get_request_id() -> str | None:
    """The id of the request (or task) being served, or None outside one."""
    return _request_id.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


def clean_request_id(value) -> str | None:
    """``value`` if it is a safe id (1-64 letters, digits, dashes), else None."""
    if isinstance(value, str) and _SAFE_ID.fullmatch(value):
        return value
    return None


def bind_request_id(value: str) -> contextvars.Token:
    return _request_id.set(value)


def unbind_request_id(token: contextvars.Token) -> None:
    _request_id.reset(token)


@contextlib.contextmanager
def request_id_bound(value: str):
    """Run a block as if serving the request ``value`` (commands, tests)."""
    token = bind_request_id(value)
    try:
        yield value
    finally:
        unbind_request_id(token)


class RequestIdMiddleware:
    """Give every request an id: on ``request.request_id``, in its logs, in the response.

    First in MIDDLEWARE, so even a redirect or an error page from another
    middleware carries it. A client's (or the proxy's) ``X-Request-ID`` is kept
    only when it is safe; anything else is replaced, never echoed.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = clean_request_id(request.headers.get(HEADER)) or new_request_id()
        request.request_id = request_id
        # Bound until the response is closed (``forget_request_id``), not just until
        # this returns: Django logs "Not Found"/"Bad Request" after the middleware.
        bind_request_id(request_id)
        response = self.get_response(request)
        response[HEADER] = request_id
        return response


def forget_request_id(**kwargs):
    """request_finished: the request is over; so is its id."""
    _request_id.set(None)


class RequestIdFilter(logging.Filter):
    """Adds ``record.request_id`` ("-" outside a request). Put it on handlers, so
    records propagated from every logger get it."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = get_request_id() or NO_REQUEST
        return True


# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time (UTC, ISO 8601), level, logger, message,
    request_id, then any ``extra=`` fields, and the traceback as ``exc_info``."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", NO_REQUEST),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                entry.setdefault(key, value)
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


def make_formatter(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT)


def adopt_handlers(logger: logging.Logger, log_format: str) -> None:
    """Make handlers someone else installed (Celery's worker) write our lines."""
    for handler in logger.handlers:
        if not any(isinstance(f, RequestIdFilter) for f in handler.filters):
            handler.addFilter(RequestIdFilter())
        handler.setFormatter(make_formatter(log_format))


def logging_config(*, log_format: str, level: str) -> dict:
    """The LOGGING dict for settings: one console handler, request ids on every line."""
    if log_format not in {"json", "text"}:
        raise ValueError(f"LOG_FORMAT must be json or text, not {log_format!r}")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": "core.logs.RequestIdFilter"}},
        "formatters": {
            "text": {"format": TEXT_FORMAT},
            "json": {"()": "core.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["request_id"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            "django.db.backends": {"level": "INFO"},
            "fontTools": {"level": "WARNING"},  # the PDF builder subsets fonts noisily
        },
    }
