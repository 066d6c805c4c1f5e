"""Every request has an id: in the response, in every log line, on the 500 page,
and in the tasks it hands to Celery."""

import io
import json
import logging
import re
import sys

import pytest
from django.urls import reverse

from core.logs import (
    JsonFormatter,
    RequestIdFilter,
    get_request_id,
    logging_config,
    request_id_bound,
)

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.storefront.failing_urls")]

GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def log_lines():
    """What the configured console handler writes (settings.LOGGING), as a list of lines.

    The handler keeps its filters; its output is switched to JSON and to a buffer
    for the test."""
    [handler] = [h for h in logging.getLogger().handlers if h.get_name() == "console"]
    buffer = io.StringIO()
    old_stream = handler.setStream(buffer)
    old_formatter = handler.formatter
    handler.setFormatter(JsonFormatter())
    try:
        yield lambda: [json.loads(line) for line in buffer.getvalue().splitlines() if line]
    finally:
        handler.setStream(old_stream)
        handler.setFormatter(old_formatter)


def test_every_response_gets_a_new_request_id(client):
    first = client.get(reverse("home"))
    second = client.get(reverse("home"))

    assert GENERATED.fullmatch(first["X-Request-ID"])
    assert GENERATED.fullmatch(second["X-Request-ID"])
    assert first["X-Request-ID"] != second["X-Request-ID"]


def test_a_safe_incoming_request_id_is_kept_and_shown_by_healthz(client):
    response = client.get(reverse("healthz"), HTTP_X_REQUEST_ID="nginx-5f2a-0042")

    assert response["X-Request-ID"] == "nginx-5f2a-0042"
    assert response.json()["request_id"] == "nginx-5f2a-0042"


@pytest.mark.parametrize(
    "incoming",
    [
        pytest.param("a" * 65, id="too-long"),
        pytest.param("abc def", id="space"),
        pytest.param("abc\tSet-Cookie: x=1", id="header-injection"),
        pytest.param('x" "level": "CRITICAL', id="json-forgery"),
        pytest.param("<script>alert(1)</script>", id="markup"),
        pytest.param("réf-1", id="non-ascii"),
        pytest.param("", id="empty"),
    ],
)
def test_an_unsafe_incoming_request_id_is_replaced_not_echoed(client, incoming):
    response = client.get(reverse("healthz"), HTTP_X_REQUEST_ID=incoming)

    assert GENERATED.fullmatch(response["X-Request-ID"])
    assert response.json()["request_id"] == response["X-Request-ID"]


def test_a_log_line_written_in_a_view_carries_the_request_id(client, log_lines):
    response = client.get("/test/logs/", HTTP_X_REQUEST_ID="trace-me-1")

    assert response.status_code == 200
    [line] = [line for line in log_lines() if line["message"] == "hello from the view"]
    assert line["request_id"] == "trace-me-1"
    assert line["logger"] == "storefront.tests" and line["level"] == "INFO"
    assert line["order_ref"] == "ord-42"  # extra= fields become fields of the line
    assert get_request_id() is None  # unbound once the response is out


def test_an_unhealthy_healthz_logs_a_warning_with_its_request_id(client, settings, log_lines):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}

    response = client.get(reverse("healthz"), HTTP_X_REQUEST_ID="probe-7")

    assert response.status_code == 503
    [line] = [line for line in log_lines() if line["message"].startswith("healthz")]
    assert (line["level"], line["request_id"]) == ("WARNING", "probe-7")
    assert line["message"] == "healthz: unhealthy (cache)"


def test_the_500_page_gives_the_reader_the_reference_that_is_in_the_error_log(client, log_lines):
    client.raise_request_exception = False

    response = client.get("/test/fails/", HTTP_X_REQUEST_ID="ref-500-abc")

    assert response.status_code == 500
    assert response["X-Request-ID"] == "ref-500-abc"
    page = response.content.decode()
    assert '<code id="request-id">ref-500-abc</code>' in page
    assert "the view broke" not in page  # no internals shown to the reader
    [error] = [line for line in log_lines() if line["logger"] == "django.request"]
    assert error["level"] == "ERROR" and error["request_id"] == "ref-500-abc"
    assert "RuntimeError: the view broke" in error["exc_info"]


def test_json_lines_parse_with_tracebacks_unicode_and_odd_extras():
    try:
        raise ValueError("naïve “quotes” \n and a newline")
    except ValueError:
        record = logging.getLogger("x").makeRecord(
            "x",
            logging.ERROR,
            __file__,
            1,
            "failed: %s",
            ("ünïcode",),
            sys.exc_info(),
            extra={"amount_cents": 1950, "when": object()},
        )
    RequestIdFilter().filter(record)

    line = JsonFormatter().format(record)

    assert "\n" not in line  # one record, one line
    data = json.loads(line)
    assert data["message"] == "failed: ünïcode"
    assert data["request_id"] == "-"
    assert data["amount_cents"] == 1950 and data["when"].startswith("<object")
    assert "ValueError: naïve “quotes”" in data["exc_info"]
    assert data["time"].endswith("+00:00")


def test_the_log_format_setting_chooses_the_formatter_and_always_adds_request_ids():
    for log_format in ("json", "text"):
        config = logging_config(log_format=log_format, level="INFO")
        console = config["handlers"]["console"]
        assert console["formatter"] == log_format and console["filters"] == ["request_id"]
    assert (
        "%(request_id)s"
        in logging_config(log_format="text", level="INFO")["formatters"]["text"]["format"]
    )
    with pytest.raises(ValueError, match="LOG_FORMAT"):
        logging_config(log_format="yaml", level="INFO")


def test_a_task_published_during_a_request_carries_its_id_into_the_worker():
    """The publishing side adds the header; the worker side binds it while the task
    runs and unbinds it after (what the real-worker test in tests/services checks
    end to end)."""
    from celery import signals

    from core.tasks import deliver_email

    headers = {}
    with request_id_bound("req-from-web"):
        signals.before_task_publish.send(sender="core.tasks.deliver_email", headers=headers)
    assert headers["request_id"] == "req-from-web"

    deliver_email.push_request(request_id="req-from-web", id="task-1")
    try:
        seen = []
        signals.task_prerun.send(sender=deliver_email, task_id="task-1", task=deliver_email)
        seen.append(get_request_id())
        signals.task_postrun.send(sender=deliver_email, task_id="task-1", task=deliver_email)
        seen.append(get_request_id())
    finally:
        deliver_email.pop_request()
    assert seen == ["req-from-web", None]


def test_a_task_without_a_request_gets_an_id_of_its_own():
    from celery import signals

    from core.tasks import requeue_stuck_emails

    requeue_stuck_emails.push_request(id="beat-1")
    try:
        signals.task_prerun.send(
            sender=requeue_stuck_emails, task_id="beat-1", task=requeue_stuck_emails
        )
        own = get_request_id()
        signals.task_postrun.send(
            sender=requeue_stuck_emails, task_id="beat-1", task=requeue_stuck_emails
        )
    finally:
        requeue_stuck_emails.pop_request()
    assert GENERATED.fullmatch(own)
    assert get_request_id() is None


def test_django_s_own_not_found_warning_carries_the_request_id(client, log_lines):
    response = client.get("/no-such-page/", HTTP_X_REQUEST_ID="lost-404")

    assert response.status_code == 404
    [line] = [line for line in log_lines() if line["message"] == "Not Found: /no-such-page/"]
    assert (line["level"], line["request_id"]) == ("WARNING", "lost-404")
    assert get_request_id() is None
