"""Stripe test doubles: one localstripe server per xdist worker, and event signing.

localstripe (PyPI ``localstripe``) is a fake, stateful Stripe: it creates and
confirms PaymentIntents and delivers signed webhooks to a URL we register. Our
gateway talks to it through ``STRIPE_API_BASE``.
"""

import hashlib
import hmac
import importlib.util
import json
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager

import pytest
import stripe
from django.urls import reverse

from payments import services
from tests.conftest import require
from tests.factories import BookFactory, UserFactory

SECRET_KEY = "sk_test_storefront"
PUBLISHABLE_KEY = "pk_test_storefront"
WEBHOOK_SECRET = "whsec_test_storefront"
WEBHOOK_PATH = "/webhooks/stripe/"
# The events our handler acts on; localstripe sends only these to us.
PAYMENT_EVENTS = ["payment_intent.succeeded", "payment_intent.payment_failed"]

# localstripe always pickles its whole store to /tmp/localstripe.pickle after
# every change, so parallel servers would all rewrite one file. With
# --from-scratch nothing reads it back: keep each worker's store in memory only.
LOCALSTRIPE_MAIN = """
import sys
from localstripe import resources, server
resources.Store.dump_to_disk = lambda self: None
sys.argv[0] = "localstripe"
server.start()
"""


def pytest_collection_modifyitems(items):
    for item in items:
        if "localstripe" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.services)


def wait_for(condition, timeout=15.0, interval=0.05) -> bool:
    """Poll ``condition`` until it is true or ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _answers_http(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1).close()
    except urllib.error.HTTPError:
        return True  # 401 without a key: it is up
    except OSError:
        return False
    return True


class LocalStripe:
    def __init__(self, url: str, log_path):
        self.url = url
        self.log_path = log_path
        self.api = stripe.StripeClient(
            SECRET_KEY, base_addresses={"api": url}, max_network_retries=0
        )

    def send_webhooks_to(self, url: str, *, secret=WEBHOOK_SECRET, events=PAYMENT_EVENTS):
        """Register the one webhook endpoint localstripe signs and posts events to."""
        body = json.dumps({"url": url, "secret": secret, "events": events}).encode()
        request = urllib.request.Request(
            f"{self.url}/_config/webhooks/storefront",
            data=body,
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5).close()

    def stop_webhooks(self):
        """localstripe cannot delete a webhook; one listening to no event sends nothing."""
        self.send_webhooks_to("http://127.0.0.1:9/", events=[])

    def deliveries(self) -> list[str]:
        """Its log of webhook deliveries: 'payment_intent.succeeded: delivered' or
        'payment_intent.succeeded: response 400'."""
        text = self.log_path.read_text(errors="replace")
        found = re.findall(
            r'webhook "([\w.]+)" (successfully delivered|failed with response code \d+|failed: .*)',
            text,
        )
        return [
            f"{kind}: {'delivered' if how.startswith('success') else how}" for kind, how in found
        ]

    def confirm(self, intent_id: str, payment_method: str):
        """What Stripe.js does when the reader submits the card form.

        localstripe answers 500 "Not implemented" to a confirm that carries the
        payment method, so attach it first and then confirm. A declined card
        raises stripe.CardError, as Stripe.js reports an error.
        """
        self.api.v1.payment_intents.update(intent_id, params={"payment_method": payment_method})
        return self.api.v1.payment_intents.confirm(intent_id)


def _start_localstripe(workdir, log):
    """(process, url) of a localstripe answering HTTP, or None if it would not start."""
    for _attempt in range(3):  # the free port may be taken before the server binds it
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = subprocess.Popen(
            [sys.executable, "-c", LOCALSTRIPE_MAIN, "--port", str(port), "--from-scratch"],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for(
            lambda: process.poll() is not None or _answers_http(f"{url}/v1/charges"),  # noqa: B023
            timeout=15,
        )
        if process.poll() is None and _answers_http(f"{url}/v1/charges"):
            return process, url
        process.kill()
        process.wait(timeout=5)
    return None


@contextmanager
def running_localstripe(workdir):
    """A localstripe server in ``workdir`` for the ``with`` block, stopped after it."""
    require(importlib.util.find_spec("localstripe") is not None, "localstripe is not installed")
    log_path = workdir / "localstripe.log"
    with log_path.open("ab") as log:
        started = _start_localstripe(workdir, log)
    require(started is not None, f"localstripe did not start; see {log_path}")
    process, url = started
    try:
        yield LocalStripe(url, log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@pytest.fixture(scope="session")
def localstripe(tmp_path_factory):
    """A localstripe server for this test process (each xdist worker has its own)."""
    with running_localstripe(tmp_path_factory.mktemp("localstripe")) as server:
        yield server


@pytest.fixture
def stripe_settings(settings, localstripe):
    """PAYMENT_GATEWAY=stripe against this worker's localstripe."""
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_API_BASE = localstripe.url
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
    settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
    return settings


@pytest.fixture
def stripe_webhooks(localstripe, live_server):
    """localstripe posts its signed payment events to our live server, for this test only.

    localstripe sends each event about a second after it happens, to whatever webhook
    is registered then: wait out the stray events of earlier tests first."""
    time.sleep(1.25)
    localstripe.send_webhooks_to(live_server.url + WEBHOOK_PATH)
    yield localstripe
    localstripe.stop_webhooks()


@pytest.fixture
def reader(client):
    user = UserFactory()
    client.force_login(user)
    return user


@pytest.fixture
def book():
    return BookFactory(slug="the-book", minimum_price_cents=1499, suggested_price_cents=2499)


def pay(client, book, amount, token=None):
    """Submit the checkout page: places the order and redirects to its pay page."""
    return client.post(
        reverse("payments:pay", args=[book.slug]),
        {"amount": amount, "checkout_token": token or str(uuid.uuid4())},
    )


# The demo gateway's test cards.
VISA = "4242 4242 4242 4242"
DECLINED = "4000 0000 0000 0002"


def card(client, order, number):
    """Submit the demo card form of the order's payment page."""
    return client.post(
        reverse("payments:pay_order", args=[order.public_id]),
        {"card_number": number, "expiry": "12/34", "cvc": "123"},
    )


def stripe_order(reader, book, amount_cents=1950):
    """A pending Stripe order with its PaymentIntent created at localstripe."""
    order = services.place_order(
        buyer=reader, book=book, amount_cents=amount_cents, checkout_token=uuid.uuid4()
    )
    services.start_payment(order)
    order.refresh_from_db()
    return order


def signature(payload: bytes, *, secret=WEBHOOK_SECRET, timestamp=None) -> str:
    """The Stripe-Signature header Stripe would send: t=...,v1=HMAC-SHA256(secret, "t.payload")."""
    timestamp = int(time.time() if timestamp is None else timestamp)
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def event_payload(intent, event_type="payment_intent.succeeded", event_id=None) -> bytes:
    """A Stripe event about ``intent``: a PaymentIntent as localstripe returned it,
    or a dict of what a forged event claims it to be."""
    obj = intent if isinstance(intent, dict) else intent.to_dict(for_json=True)
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2024-06-20",
            "created": int(time.time()),
            "livemode": False,
            "type": event_type,
            "data": {"object": obj},
        }
    ).encode()


def post_event(client, payload: bytes, header: str | None = "sign"):
    """POST to the webhook endpoint; signed correctly unless another header is given."""
    if header == "sign":
        header = signature(payload)
    extra = {"HTTP_STRIPE_SIGNATURE": header} if header is not None else {}
    return client.post(WEBHOOK_PATH, data=payload, content_type="application/json", **extra)
