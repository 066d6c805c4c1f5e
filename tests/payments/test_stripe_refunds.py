"""Refunds with Stripe, against localstripe: the reader's two clicks move the money
at localstripe once; refund webhooks (signed here) book a refund made elsewhere
once, and never a partial one; a confirm racing a second tab and Stripe's own
webhook still refunds once and reverses the ledger once (PostgreSQL); a refund the
provider refuses leaves the order paid and is retried once the cause is fixed."""

import http.cookies
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
import stripe
from django.db import connection
from django.test import Client
from django.urls import reverse

from core.models import EmailDelivery
from library.models import Entitlement
from payments import refunds, services, webhooks
from payments.gateways import GatewayError
from payments.gateways.stripe import StripeGateway
from payments.ledger import audit
from payments.models import LedgerTransaction, Order, Refund, WebhookEvent
from tests.conftest import require
from tests.factories import BookFactory, UserFactory
from tests.payments.conftest import (
    WEBHOOK_PATH,
    event_payload,
    free_port,
    pay,
    post_event,
    signature,
    stripe_order,
    wait_for,
)

# All transactional: pytest-django runs these after every non-transactional test, and
# so after test_stripe.py's live-server tests. localstripe posts a payment's event a
# second after the confirm to whatever webhook is registered then; on one xdist worker
# an event left pending here can thus never reach those tests' live server.
pytestmark = pytest.mark.django_db(transaction=True)

# How long localstripe may still hold an event from a confirm another test made.
EVENT_DELAY = 1.25


def refund_url(order):
    return reverse("payments:refund", args=[order.public_id])


def refunds_at_stripe(localstripe, order) -> list:
    """The refunds localstripe holds for the order's PaymentIntent."""
    listed = localstripe.api.v1.refunds.list(
        params={"payment_intent": order.gateway_reference, "limit": 100}
    )
    return list(listed.data)


def charge_of(localstripe, order):
    """The PaymentIntent's charge as localstripe has it now (amount_refunded, refunds)."""
    intent = localstripe.api.v1.payment_intents.retrieve(order.gateway_reference)
    charge = intent.latest_charge
    return localstripe.api.v1.charges.retrieve(charge if isinstance(charge, str) else charge.id)


def reversals(order) -> int:
    return LedgerTransaction.objects.filter(order=order, kind="refund").count()


def entries(txn, sign=1) -> list[tuple]:
    return sorted(
        (e.account, e.author_id, sign * e.amount_cents, e.currency, e.book_id, e.available_at)
        for e in txn.entries.all()
    )


def assert_refunded_once(order, gateway_refund_id):
    """Refunded and booked exactly once: one exact reversal, book revoked, one e-mail."""
    order.refresh_from_db()
    assert order.status == "refunded"
    refund = Refund.objects.get(order=order)
    assert (refund.status, refund.amount_cents) == ("refunded", order.amount_cents)
    assert refund.gateway_refund_id == gateway_refund_id and refund.refunded_at
    sale = LedgerTransaction.objects.get(order=order, kind="sale")
    reversal = LedgerTransaction.objects.get(order=order, kind="refund")
    assert reversal.reverses == sale
    assert entries(reversal) == entries(sale, sign=-1) and entries(sale)
    assert not Entitlement.objects.get(user=order.buyer, book=order.book).is_active
    assert EmailDelivery.objects.filter(key__startswith="refund-done:").count() == 1
    delivery = EmailDelivery.objects.get(key=f"refund-done:order-{order.pk}")
    assert delivery.subject == f"Your refund for {order.book.title}"
    report = audit()
    assert report.ok, report.problems
    return refund


def assert_still_paid(order):
    """Nothing refunded or booked: paid, the book kept, no reversal, no refund e-mail."""
    order.refresh_from_db()
    assert order.status == "paid"
    assert reversals(order) == 0
    assert Entitlement.objects.get(user=order.buyer, book=order.book).is_active
    assert not EmailDelivery.objects.filter(key=f"refund-done:order-{order.pk}").exists()
    assert audit().ok


def refund_event(obj, event_type="charge.refunded", event_id=None) -> bytes:
    """A refund event: ``obj`` is a charge (charge.refunded) or a refund (refund.*)."""
    return event_payload(
        obj if isinstance(obj, dict) else obj.to_dict(for_json=True), event_type, event_id
    )


@pytest.fixture
def paid(client, reader, book, stripe_settings, localstripe):
    """The reader's Stripe order, paid at localstripe and fulfilled by its signed webhook."""
    order = stripe_order(reader, book, 1950)
    intent = localstripe.confirm(order.gateway_reference, "pm_card_visa")
    assert post_event(client, event_payload(intent)).content == b"order paid"
    order.refresh_from_db()
    assert order.status == "paid"
    return order


# 1. The reader's two clicks ----------------------------------------------------------


def test_a_reader_pays_with_stripe_then_refunds_in_two_clicks(
    client, reader, book, stripe_settings, stripe_webhooks, mailoutbox
):
    if connection.vendor == "sqlite":
        # The live server shares the in-memory database's one connection with this
        # thread: let an event another test left at localstripe arrive now, then wait
        # for localstripe's delivery, not for rows the server may still be writing.
        time.sleep(EVENT_DELAY)
    response = pay(client, book, "19.50")
    order = Order.objects.get()
    assert client.get(response["Location"]).status_code == 200  # creates the PaymentIntent
    order.refresh_from_db()
    delivered_before = len(stripe_webhooks.deliveries())
    assert stripe_webhooks.confirm(order.gateway_reference, "pm_card_visa").status == "succeeded"
    assert wait_for(
        lambda: (
            "payment_intent.succeeded: delivered" in stripe_webhooks.deliveries()[delivered_before:]
        )
    ), stripe_webhooks.deliveries()
    # (On PostgreSQL an earlier test's event may have been that delivery: poll the
    # order, which only shows as paid once the whole fulfilment has committed.)
    assert wait_for(lambda: Order.objects.get(pk=order.pk).status == "paid"), "never paid"
    assert Entitlement.objects.get(user=reader, book=book).is_active

    # Click 1: what a refund does; nothing moves yet.
    page = client.get(refund_url(order))
    assert page.status_code == 200
    assert "All of the $19.50 you paid goes back" in page.content.decode()
    assert refunds_at_stripe(stripe_webhooks, order) == []
    assert not Refund.objects.exists()

    # Click 2: do it.
    done = client.post(refund_url(order), {"reason": "Not for me"}, follow=True)

    assert done.redirect_chain == [(order.get_absolute_url(), 302)]
    html = done.content.decode()
    assert "Refunded: $19.50 is on its way back to you." in html
    assert "Refund: <strong>Refunded</strong>" in html
    (at_stripe,) = refunds_at_stripe(stripe_webhooks, order)
    assert (at_stripe.amount, at_stripe.status) == (1950, "succeeded")
    charge = charge_of(stripe_webhooks, order)
    assert (charge.amount_refunded, charge.refunded) == (charge.amount, True)
    refund = assert_refunded_once(order, at_stripe.id)
    assert (refund.reason, refund.auto_approved, refund.attempts) == ("Not for me", True, 1)
    delivery = EmailDelivery.objects.get(key=f"refund-done:order-{order.pk}")
    assert wait_for(lambda: EmailDelivery.objects.get(pk=delivery.pk).status == "sent")
    assert [m.subject for m in mailoutbox] == [
        f"Your receipt for {book.title}",
        f"Your refund for {book.title}",
    ]
    assert mailoutbox[-1].to == [reader.email]

    # Stripe's charge.refunded for our own refund arrives later: already booked.
    late = post_event(client, refund_event(charge))
    assert (late.status_code, late.content) == (200, b"no change")
    # And a third click (another tab) neither refunds nor books again.
    again = client.post(refund_url(order))
    assert again["Location"] == order.get_absolute_url()
    assert len(refunds_at_stripe(stripe_webhooks, order)) == 1
    assert_refunded_once(order, at_stripe.id)


# 2. Refund webhooks, signed here -------------------------------------------------------


def test_a_refund_made_at_stripe_is_booked_once_from_its_webhooks(
    client, paid, localstripe, mailoutbox
):
    made = localstripe.api.v1.refunds.create(params={"payment_intent": paid.gateway_reference})
    charge = charge_of(localstripe, paid)
    assert (charge.amount_refunded, charge.refunded) == (1950, True)
    payload = refund_event(charge, "charge.refunded", event_id="evt_charge_refunded")

    first = post_event(client, payload)

    assert (first.status_code, first.content) == (200, b"order refunded")
    refund = assert_refunded_once(paid, made.id)
    assert refund.requested_by is None and refund.attempts == 0
    assert [m.subject for m in mailoutbox] == [
        f"Your receipt for {paid.book.title}",
        f"Your refund for {paid.book.title}",
    ]

    # Stripe's retry of the same event, and the refund's own events, change nothing.
    replay = post_event(client, payload)
    assert (replay.status_code, replay.content) == (200, b"replay ignored")
    for event_type in ("refund.updated", "refund.created"):
        other = post_event(client, refund_event(made, event_type))
        assert (other.status_code, other.content) == (200, b"no change"), event_type
    assert WebhookEvent.objects.get(event_id="evt_charge_refunded").outcome == "order refunded"
    # Nor do the reader's clicks: the order is refunded already.
    assert client.get(refund_url(paid))["Location"] == paid.get_absolute_url()
    assert client.post(refund_url(paid))["Location"] == paid.get_absolute_url()
    assert [r.id for r in refunds_at_stripe(localstripe, paid)] == [made.id]
    assert_refunded_once(paid, made.id)
    assert len(mailoutbox) == 2


def test_a_refund_updated_webhook_alone_books_a_refund_made_at_stripe(client, paid, localstripe):
    made = localstripe.api.v1.refunds.create(params={"payment_intent": paid.gateway_reference})
    assert made.payment_intent == paid.gateway_reference

    response = post_event(client, refund_event(made, "refund.updated"))

    assert (response.status_code, response.content) == (200, b"order refunded")
    assert_refunded_once(paid, made.id)
    late = post_event(client, refund_event(charge_of(localstripe, paid)))
    assert (late.status_code, late.content) == (200, b"no change")
    assert reversals(paid) == 1


def test_a_refund_webhook_for_a_payment_stripe_has_not_refunded_changes_nothing(
    client, paid, localstripe
):
    charge = charge_of(localstripe, paid)
    assert charge.amount_refunded == 0
    forged_refund = {
        "id": "re_forged",
        "object": "refund",
        "amount": 1950,
        "charge": charge.id,
        "payment_intent": paid.gateway_reference,
        "status": "succeeded",
    }
    claimed_charge = {**charge.to_dict(for_json=True), "amount_refunded": 1950, "refunded": True}

    for payload in (
        refund_event(claimed_charge, "charge.refunded"),
        refund_event(forged_refund, "refund.updated"),
    ):
        response = post_event(client, payload)
        assert response.status_code == 200
        assert response.content == b"no change: the provider holds no refund for this payment"

    assert_still_paid(paid)
    assert not Refund.objects.exists()
    assert refunds_at_stripe(localstripe, paid) == []
    assert WebhookEvent.objects.filter(order=paid, type__in=webhooks.REFUND_EVENTS).count() == 2


def test_a_partial_refund_at_stripe_is_not_booked_and_not_taken_for_a_full_one(
    client, paid, localstripe
):
    partial = localstripe.api.v1.refunds.create(
        params={"payment_intent": paid.gateway_reference, "amount": 500}
    )

    for payload in (
        refund_event(charge_of(localstripe, paid), "charge.refunded"),
        refund_event(partial, "refund.updated"),
    ):
        response = post_event(client, payload)
        assert (response.status_code, response.content) == (
            200,
            b"no change: partial refunds are booked by hand",
        )
    assert_still_paid(paid)
    assert not Refund.objects.exists()

    # The reader then asks for the refund: our gateway finds the $5 refund made by
    # hand. It is not the $19.50 asked for, so nothing is booked as refunded; the
    # refund waits (failed) for a person, and no second refund is made at Stripe.
    client.post(refund_url(paid))

    assert_still_paid(paid)
    refund = Refund.objects.get(order=paid)
    assert refund.status == "failed"
    assert f"partial refund {partial.id} of 500 cents, not 1950" in refund.last_error
    assert [r.id for r in refunds_at_stripe(localstripe, paid)] == [partial.id]


# 3. Races --------------------------------------------------------------------------------


class Tab:
    """One browser tab of a logged-in reader, over real HTTP to the live server."""

    def __init__(self, live_server, user):
        client = Client()
        client.force_login(user)
        self.base = live_server.url
        self.cookies = {"sessionid": client.cookies["sessionid"].value}
        self.csrf = ""

    def _send(self, path, data=None):
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body)
        request.add_header("Cookie", "; ".join(f"{k}={v}" for k, v in self.cookies.items()))
        try:
            response = _NO_REDIRECTS.open(request, timeout=30)
        except urllib.error.HTTPError as exc:  # a 302 (not followed) or an error page
            response = exc
        with response:
            for header in response.headers.get_all("Set-Cookie") or []:
                for name, morsel in http.cookies.SimpleCookie(header).items():
                    self.cookies[name] = morsel.value
            return response.status, response.read().decode()

    def open_refund_page(self, order):
        """Click 1: the confirm page, with its CSRF token."""
        status, html = self._send(refund_url(order))
        assert status == 200 and "Confirm refund" in html
        self.csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)

    def confirm_refund(self, order):
        """Click 2."""
        return self._send(refund_url(order), {"csrfmiddlewaretoken": self.csrf, "reason": ""})[0]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_NO_REDIRECTS = urllib.request.build_opener(_NoRedirect)


def post_to_live_server(live_server, payload: bytes) -> tuple[int, str]:
    request = urllib.request.Request(
        live_server.url + WEBHOOK_PATH,
        data=payload,
        headers={"Content-Type": "application/json", "Stripe-Signature": signature(payload)},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def run_together(*calls, timeout=30):
    """Run each call in its own thread, all released by one barrier; their results."""
    barrier = threading.Barrier(len(calls))
    results, errors = [None] * len(calls), []

    def run(i, call):
        try:
            barrier.wait(timeout=10)
            results[i] = call()
        except Exception as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    assert errors == [], errors
    return results


@pytest.fixture
def count_gateway_refunds(monkeypatch):
    """How many times our code asks Stripe to refund (thread-safe)."""
    calls, lock = [], threading.Lock()
    real = StripeGateway.refund

    def counted(self, **kwargs):
        with lock:
            calls.append(kwargs["reference"])
        return real(self, **kwargs)

    monkeypatch.setattr(StripeGateway, "refund", counted)
    return calls


@pytest.fixture
def pg_paid(stripe_settings, localstripe):
    """A paid Stripe order of a fresh reader, on PostgreSQL (real row locks)."""
    require(
        connection.vendor == "postgresql",
        "concurrent refunds need PostgreSQL: set DATABASE_URL=postgres://...",
    )
    order = stripe_order(UserFactory(), BookFactory(), 1950)
    intent = localstripe.confirm(order.gateway_reference, "pm_card_visa")
    assert post_event(Client(), event_payload(intent)).content == b"order paid"
    order.refresh_from_db()
    return order


def once_stripe_holds_the_refund(localstripe, order):
    """Wait, as Stripe's webhook does, until the refund exists; then return it."""
    found = []
    assert wait_for(
        lambda: found.extend(refunds_at_stripe(localstripe, order)) or found, interval=0.01
    )
    return found[0]


def test_two_tabs_confirming_and_stripes_webhook_at_once_refund_once(
    pg_paid, live_server, localstripe, count_gateway_refunds, mailoutbox
):
    order = pg_paid
    tabs = [Tab(live_server, order.buyer), Tab(live_server, order.buyer)]
    for tab in tabs:
        tab.open_refund_page(order)

    def stripes_webhook():
        once_stripe_holds_the_refund(localstripe, order)
        return post_to_live_server(live_server, refund_event(charge_of(localstripe, order)))

    first, second, hook = run_together(
        lambda: tabs[0].confirm_refund(order),
        lambda: tabs[1].confirm_refund(order),
        stripes_webhook,
    )

    # Both tabs are sent back to the order page; one of them made the refund, and
    # the webhook booked it or found it booked.
    assert (first, second) == (302, 302)
    assert hook in ((200, "order refunded"), (200, "no change")), hook
    assert count_gateway_refunds == [order.gateway_reference]
    (at_stripe,) = refunds_at_stripe(localstripe, order)
    assert at_stripe.amount == 1950
    refund = assert_refunded_once(order, at_stripe.id)
    assert refund.attempts == 1
    assert Refund.objects.count() == 1
    assert wait_for(lambda: len(mailoutbox) == 2)
    assert mailoutbox[-1].subject == f"Your refund for {order.book.title}"


def test_two_confirms_and_webhooks_in_threads_refund_once(
    pg_paid, localstripe, count_gateway_refunds
):
    order = pg_paid
    early = refund_event(charge_of(localstripe, order))  # before any refund exists

    def confirm():
        refund = refunds.request_refund(order_id=order.pk, user=order.buyer)
        return refunds.execute_refund(refund_id=refund.pk, actor=order.buyer).refund.status

    def deliver(payload):
        return webhooks.handle_stripe(payload, signature(payload)).outcome

    def deliver_once_refunded():
        made = once_stripe_holds_the_refund(localstripe, order)
        return deliver(refund_event(made, "refund.updated"))

    *statuses, now, later = run_together(
        confirm, confirm, lambda: deliver(early), deliver_once_refunded
    )

    # The confirm that lost the race sees the refund as the winner left it.
    assert "refunded" in statuses and set(statuses) <= {"refunded", "processing"}, statuses
    assert now in (
        "order refunded",
        "no change",
        "no change: the provider holds no refund for this payment",
    )
    assert later in ("order refunded", "no change")
    assert count_gateway_refunds == [order.gateway_reference]
    (at_stripe,) = refunds_at_stripe(localstripe, order)
    assert_refunded_once(order, at_stripe.id)


def test_a_confirm_arriving_while_a_refund_webhook_books_the_refund_does_not_deadlock(
    pg_paid, localstripe, count_gateway_refunds, monkeypatch
):
    """The webhook holds the order's lock and is about to lock the refund row; the
    reader's confirm must not hold the refund row while it waits for the order."""
    order = pg_paid
    refund = refunds.request_refund(order_id=order.pk, user=order.buyer)  # approved
    made = localstripe.api.v1.refunds.create(params={"payment_intent": order.gateway_reference})
    webhook = refund_event(made, "refund.updated")
    holding_order, confirmed, outcome = threading.Event(), threading.Event(), []
    real_lock_authors = refunds.lock_authors

    def someone_waits_for_a_lock(cursor) -> bool:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        )
        return cursor.fetchone()[0] > 0

    def lock_authors_then_wait_for_the_confirm(author_ids):
        real_lock_authors(author_ids)
        if holding_order.is_set():
            return
        holding_order.set()
        # Go on once the confirm waits for a lock (or has finished without one).
        with connection.cursor() as cursor:
            wait_for(lambda: confirmed.is_set() or someone_waits_for_a_lock(cursor), timeout=3)

    monkeypatch.setattr(refunds, "lock_authors", lock_authors_then_wait_for_the_confirm)

    def deliver():
        try:
            outcome.append(webhooks.handle_stripe(webhook, signature(webhook)).outcome)
        except Exception as exc:
            outcome.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=deliver)
    thread.start()
    assert holding_order.wait(timeout=10)
    try:
        result = refunds.execute_refund(refund_id=refund.pk, actor=order.buyer).refund
    finally:
        confirmed.set()
        thread.join(timeout=30)

    assert outcome == ["order refunded"]
    assert result.status == "refunded"
    assert count_gateway_refunds == [order.gateway_reference]  # it found Stripe's refund
    assert [r.id for r in refunds_at_stripe(localstripe, order)] == [made.id]
    assert_refunded_once(order, made.id)


@pytest.mark.parametrize("answer", ["arrives", "is lost"])
def test_a_refund_webhook_overtaking_our_refund_call_still_refunds_once(
    client, paid, localstripe, monkeypatch, answer
):
    """Stripe refunds and sends charge.refunded before our call returns (or before
    its answer is lost to a timeout): the refund ends refunded, booked once."""
    real = StripeGateway.refund
    hooks = []

    def refund_then_webhook(self, **kwargs):
        outcome = real(self, **kwargs)
        payload = refund_event(charge_of(localstripe, paid))
        hooks.append(webhooks.handle_stripe(payload, signature(payload)).outcome)
        if answer == "is lost":
            raise GatewayError("The payment provider could not make the refund right now.")
        return outcome

    monkeypatch.setattr(StripeGateway, "refund", refund_then_webhook)
    client.post(refund_url(paid))

    assert hooks == ["order refunded"]
    (at_stripe,) = refunds_at_stripe(localstripe, paid)
    refund = assert_refunded_once(paid, at_stripe.id)
    # A retry (the admin's "retry failed refunds") finds nothing to do.
    monkeypatch.undo()
    again = refunds.execute_refund(refund_id=refund.pk).refund
    assert (again.status, again.attempts) == ("refunded", 1)
    assert len(refunds_at_stripe(localstripe, paid)) == 1
    assert_refunded_once(paid, at_stripe.id)


# 4. The provider fails or refuses ---------------------------------------------------------


def test_a_refund_stripe_refuses_leaves_the_order_paid_and_is_retried_once_fixed(
    client, reader, book, stripe_settings, localstripe
):
    """Booked as paid while Stripe has not charged the card yet (the case a person
    sorts out): localstripe refuses to refund the PaymentIntent. Once the payment
    has gone through at Stripe, the retry refunds it."""
    order = stripe_order(reader, book, 1950)
    assert services.mark_paid(
        order_id=order.pk, amount_cents=1950, reference=order.gateway_reference
    )
    with pytest.raises(stripe.StripeError):  # what our gateway meets, asked directly
        localstripe.api.v1.refunds.create(params={"payment_intent": order.gateway_reference})

    response = client.post(refund_url(order), follow=True)

    assert "could not make the refund right now" in response.content.decode()
    assert "Refund: <strong>Failed (retryable)</strong>" in response.content.decode()
    assert_still_paid(order)
    refund = Refund.objects.get(order=order)
    assert (refund.status, refund.attempts) == ("failed", 1)
    assert refund.last_error  # localstripe answers 500 to reading the refunds of such a payment
    # A second click does not start another refund: it waits for the retry.
    assert client.post(refund_url(order))["Location"] == order.get_absolute_url()
    assert Refund.objects.get(order=order).attempts == 1

    # Fix the cause: the payment goes through at Stripe; then the retry refunds it.
    assert localstripe.confirm(order.gateway_reference, "pm_card_visa").status == "succeeded"
    retried = refunds.execute_refund(refund_id=refund.pk).refund

    (at_stripe,) = refunds_at_stripe(localstripe, order)
    assert (retried.status, retried.attempts, retried.last_error) == ("refunded", 2, "")
    assert charge_of(localstripe, order).refunded
    assert_refunded_once(order, at_stripe.id)


@pytest.mark.parametrize(
    "broken",
    [
        pytest.param({"STRIPE_SECRET_KEY": "pk_test_pasted_by_mistake"}, id="refused-key"),
        pytest.param({"STRIPE_API_BASE": "a closed port"}, id="unreachable"),
    ],
)
def test_when_stripe_refuses_the_call_the_refund_fails_and_the_retry_refunds(
    client, paid, stripe_settings, localstripe, broken
):
    fixed = {name: getattr(stripe_settings, name) for name in broken}
    for name, value in broken.items():
        if value == "a closed port":
            value = f"http://127.0.0.1:{free_port()}"  # nothing listens there
        setattr(stripe_settings, name, value)

    client.post(refund_url(paid))

    assert_still_paid(paid)
    refund = Refund.objects.get(order=paid)
    assert (refund.status, refund.attempts) == ("failed", 1)
    assert refund.last_error
    for name, value in fixed.items():
        setattr(stripe_settings, name, value)
    assert refunds_at_stripe(localstripe, paid) == []

    retried = refunds.execute_refund(refund_id=refund.pk).refund

    assert (retried.status, retried.attempts) == ("refunded", 2)
    (at_stripe,) = refunds_at_stripe(localstripe, paid)
    assert_refunded_once(paid, at_stripe.id)
