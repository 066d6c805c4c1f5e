"""A real webhook receiver on loopback (a thread with http.server) that checks every
message with the ``standardwebhooks`` verifier and de-duplicates by webhook-id."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from payments.models import Order
from tests.factories import AuthorFactory, BookFactory, UserFactory
from tests.payments.conftest import VISA, card, pay
from webhooks import endpoints
from webhooks.models import EventType


class Receiver:
    """Answers each POST with the next of ``statuses`` (then 200); remembers every
    request, whether its signature verified, and the effects of unique messages."""

    def __init__(self):
        self.statuses: list[int] = []
        self.requests: list[dict] = []
        self.effects: list[dict] = []  # one per webhook-id: what a de-duplicating receiver does
        self.secrets: list[str] = []
        self._seen: set[str] = set()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver._record(self, body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _record(self, handler, body: bytes):
        headers = dict(handler.headers.items())
        verified = {}
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers)
                verified[secret] = True
            except WebhookVerificationError:
                verified[secret] = False
        with self._lock:
            status = self.statuses.pop(0) if self.statuses else 200
            self.requests.append(
                {"headers": headers, "body": body, "verified": verified, "status": status}
            )
            if status == 200 and headers.get("webhook-id") not in self._seen:
                self._seen.add(headers.get("webhook-id"))
                self.effects.append(json.loads(body))
        handler.send_response(status)
        handler.send_header("Content-Type", "text/plain")
        handler.end_headers()
        handler.wfile.write(b"ok" if status == 200 else b"receiver is down for maintenance")

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def seller():
    """An author with a book on sale."""
    author = AuthorFactory()
    book = BookFactory(
        authors=[author], slug="hooked", minimum_price_cents=999, suggested_price_cents=1999
    )
    return author, book


def add_endpoint(author, receiver, event_types=None):
    endpoint = endpoints.add_endpoint(
        author=author,
        url=receiver.url,
        event_types=event_types or [EventType.SALE_COMPLETED],
    )
    receiver.secrets.append(endpoint.secret)
    return endpoint


def buy(client, book, amount="19.99", user=None):
    """A reader buys ``book`` through the checkout and the demo card page."""
    user = user or UserFactory()
    client.force_login(user)
    pay(client, book, amount)
    order = Order.objects.get(buyer=user, book=book)
    response = card(client, order, VISA)
    order.refresh_from_db()
    return order, response


def endpoint_url(endpoint, name="webhooks:endpoint"):
    return reverse(name, args=[endpoint.pk])
