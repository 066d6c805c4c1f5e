"""Sentry, when SENTRY_DSN is set: errors arrive tagged with the request id and
without the reader's personal data. Without a DSN nothing is even imported.

The "Sentry server" is a tiny HTTP server on loopback that keeps the envelopes
the SDK posts to it: nothing leaves the machine."""

import gzip
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.storefront.failing_urls")]


class SentryInbox(ThreadingHTTPServer):
    """Accepts POSTs to /api/<project>/envelope/ and keeps their raw text."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _EnvelopeHandler)
        self.envelopes: list[str] = []

    @property
    def dsn(self) -> str:
        return f"http://publickey@127.0.0.1:{self.server_address[1]}/1"

    def events(self, timeout=10.0) -> list[dict]:
        """The error events received so far (waits until there is one)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [
                json.loads(payload)
                for envelope in list(self.envelopes)
                for header, payload in zip(
                    envelope.splitlines()[1::2], envelope.splitlines()[2::2], strict=False
                )
                if json.loads(header).get("type") == "event"
            ]
            if found:
                return found
            time.sleep(0.05)
        return []


class _EnvelopeHandler(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            body = gzip.decompress(body)
        elif encoding == "br":
            import brotli

            body = brotli.decompress(body)
        self.server.envelopes.append(body.decode())
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def sentry_inbox():
    import sentry_sdk

    from core.sentry import init_sentry

    inbox = SentryInbox()
    thread = threading.Thread(target=inbox.serve_forever, daemon=True)
    thread.start()
    init_sentry(
        dsn=inbox.dsn,
        environment="test-env",
        release="storefront@1.2.3",
        traces_sample_rate=0.0,
    )
    try:
        yield inbox
    finally:
        sentry_sdk.flush(timeout=5)
        sentry_sdk.get_client().close()
        # Back to a client that records nothing, for the tests that run after this one.
        sentry_sdk.get_global_scope().set_client(None)
        inbox.shutdown()
        inbox.server_close()


# sentry-sdk 2.7x deprecates send_default_pii for data_collection; we keep the
# conservative switch (off), which the SDK honours unchanged.
@pytest.mark.filterwarnings("ignore:The send_default_pii option is deprecated")
def test_an_error_in_a_view_reaches_sentry_with_the_request_id_and_no_personal_data(
    client, sentry_inbox
):
    import sentry_sdk

    reader = UserFactory(email="private.reader@example.com")
    client.force_login(reader)
    session_cookie = client.cookies["sessionid"].value
    client.raise_request_exception = False

    response = client.post(
        "/test/fails/",
        {"email": "private.reader@example.com", "card": "4242424242424242"},
        HTTP_X_REQUEST_ID="sentry-req-1",
    )
    sentry_sdk.flush(timeout=5)

    assert response.status_code == 500
    [event] = sentry_inbox.events()
    assert event["tags"]["request_id"] == "sentry-req-1"
    assert (event["environment"], event["release"]) == ("test-env", "storefront@1.2.3")
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("RuntimeError", "the view broke")
    assert event["transaction"] == "/test/fails/"
    everything_sent = "".join(sentry_inbox.envelopes)
    assert "private.reader@example.com" not in everything_sent
    assert session_cookie not in everything_sent
    assert "4242424242424242" not in everything_sent
    assert "user" not in event or "email" not in event["user"]
    assert not event["request"].get("cookies")
    assert not event["request"].get("data")


def run_python(code: str, **env) -> str:
    """Run ``code`` after django.setup() in a clean environment; its stdout."""
    full_env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    full_env.update(DJANGO_SETTINGS_MODULE="storefront.settings", **env)
    result = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup()\n{code}"],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_without_a_dsn_sentry_is_not_even_imported():
    assert run_python("import sys; print('sentry_sdk' in sys.modules)") == "False"


def test_a_dsn_turns_sentry_on_with_django_celery_and_no_personal_data():
    code = (
        "import json, sentry_sdk\n"
        "c = sentry_sdk.get_client()\n"
        "print(json.dumps({'active': c.is_active(), 'pii': c.options['send_default_pii'],\n"
        "  'env': c.options['environment'], 'release': c.options['release'],\n"
        "  'rate': c.options['traces_sample_rate'], 'locals': c.options['include_local_variables'],\n"
        "  'django': c.get_integration('django') is not None,\n"
        "  'celery': c.get_integration('celery') is not None}))"
    )

    options = json.loads(
        run_python(
            code,
            SENTRY_DSN="http://publickey@127.0.0.1:9/1",
            SENTRY_ENVIRONMENT="staging",
            SENTRY_RELEASE="storefront@2.0.0",
        )
    )

    assert options == {
        "active": True,
        "pii": False,
        "env": "staging",
        "release": "storefront@2.0.0",
        "rate": 0.0,
        "locals": False,
        "django": True,
        "celery": True,
    }
