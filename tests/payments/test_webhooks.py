"""Stripe webhooks, signed here: verified, stored once, and never trusted alone
(the handler re-reads the PaymentIntent from localstripe before it acts)."""

import threading
import time
import uuid

import pytest
import stripe
from django.db import connection

from catalog.models import Book
from core.models import EmailDelivery
from library.models import Entitlement
from payments import webhooks
from payments.ledger import audit
from payments.models import LedgerEntry, LedgerTransaction, Order, WebhookEvent
from payments.royalties import royalty_for
from tests.conftest import require
from tests.factories import BookFactory, UserFactory
from tests.payments.conftest import (
    event_payload,
    free_port,
    post_event,
    signature,
    stripe_order,
)


def sales(order):
    return LedgerTransaction.objects.filter(order=order, kind="sale").count()


def assert_untouched(order):
    """Still pending, nothing granted, booked, counted or mailed."""
    order.refresh_from_db()
    assert order.status == "pending" and order.paid_at is None
    assert not Entitlement.objects.exists()
    assert not LedgerEntry.objects.exists() and not LedgerTransaction.objects.exists()
    assert not EmailDelivery.objects.exists()
    assert Book.objects.get(pk=order.book_id).sales_count == 0


@pytest.fixture
def order(reader, book, stripe_settings):
    """A pending Stripe order whose PaymentIntent exists at localstripe, not yet paid."""
    return stripe_order(reader, book)


@pytest.fixture
def paid_intent(order, localstripe):
    """The order's PaymentIntent, confirmed with a good card at localstripe."""
    intent = localstripe.confirm(order.gateway_reference, "pm_card_visa")
    assert intent.status == "succeeded"
    return intent


@pytest.mark.django_db
def test_a_replayed_success_event_pays_the_order_once(
    client, reader, book, order, paid_intent, django_capture_on_commit_callbacks
):
    payload = event_payload(paid_intent, event_id="evt_replayed")

    with django_capture_on_commit_callbacks(execute=True):  # as a real server commits
        first = post_event(client, payload)
        second = post_event(client, payload)

    assert (first.status_code, first.content) == (200, b"order paid")
    assert (second.status_code, second.content) == (200, b"replay ignored")
    order.refresh_from_db()
    assert order.status == "paid"
    assert Order.objects.filter(status="paid").count() == 1
    assert sales(order) == 1 and audit().ok
    assert Entitlement.objects.get(user=reader, book=book).is_active
    assert Book.objects.get(pk=book.pk).sales_count == 1
    assert EmailDelivery.objects.filter(key=f"receipt:order-{order.pk}").count() == 1
    assert WebhookEvent.objects.get(event_id="evt_replayed").outcome == "order paid"


@pytest.mark.django_db
def test_a_success_arriving_after_the_refund_changes_nothing(
    client, reader, book, order, paid_intent, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):  # the sale counted after commit
        assert post_event(client, event_payload(paid_intent)).content == b"order paid"
    # Only the state matters here: a paid order that has since been refunded.
    Order.objects.filter(pk=order.pk).update(status=Order.Status.REFUNDED)
    entitlements = list(Entitlement.objects.values())

    late = post_event(client, event_payload(paid_intent, event_id="evt_late"))

    assert (late.status_code, late.content) == (200, b"no change")
    order.refresh_from_db()
    assert order.status == "refunded"
    assert sales(order) == 1
    assert list(Entitlement.objects.values()) == entitlements
    assert Book.objects.get(pk=book.pk).sales_count == 1
    assert EmailDelivery.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(lambda p: signature(p, secret="whsec_someone_else"), id="wrong-secret"),
        pytest.param(lambda p: signature(p + b" "), id="body-changed-after-signing"),
        pytest.param(lambda p: signature(p).replace("v1=", "v0="), id="wrong-scheme"),
        pytest.param(lambda p: "t=abc,v1=def", id="garbage"),
        pytest.param(lambda p: "", id="empty"),
    ],
)
def test_a_bad_signature_is_refused_and_changes_nothing(client, order, paid_intent, forge):
    payload = event_payload(paid_intent)

    response = post_event(client, payload, header=forge(payload))

    assert (response.status_code, response.content) == (400, b"bad or stale signature")
    assert not WebhookEvent.objects.exists()
    assert_untouched(order)


@pytest.mark.django_db
def test_a_stale_signature_is_refused_and_a_fresh_one_accepted(client, order, paid_intent):
    payload = event_payload(paid_intent)

    stale = post_event(client, payload, header=signature(payload, timestamp=time.time() - 301))

    assert (stale.status_code, stale.content) == (400, b"bad or stale signature")
    assert_untouched(order)
    recent = post_event(client, payload, header=signature(payload, timestamp=time.time() - 240))
    assert (recent.status_code, recent.content) == (200, b"order paid")


@pytest.mark.django_db
def test_an_unsigned_event_is_refused(client, order, paid_intent):
    response = post_event(client, event_payload(paid_intent), header=None)

    assert (response.status_code, response.content) == (400, b"bad or stale signature")
    assert not WebhookEvent.objects.exists()
    assert_untouched(order)


@pytest.mark.django_db
def test_no_event_is_accepted_while_the_webhook_secret_is_not_configured(
    client, order, paid_intent, settings
):
    settings.STRIPE_WEBHOOK_SECRET = ""
    payload = event_payload(paid_intent)

    response = post_event(client, payload, header=signature(payload, secret=""))

    assert (response.status_code, response.content) == (400, b"webhook secret not configured")
    assert_untouched(order)


@pytest.mark.django_db
def test_an_unknown_event_type_is_acknowledged_and_ignored(client, order, paid_intent):
    payload = event_payload(paid_intent, "charge.dispute.funds_reinstated", event_id="evt_odd")

    response = post_event(client, payload)

    assert (response.status_code, response.content) == (200, b"ignored: unhandled type")
    assert WebhookEvent.objects.get(event_id="evt_odd").type == "charge.dispute.funds_reinstated"
    assert_untouched(order)
    # Stripe's retry of it is a replay.
    assert post_event(client, payload).content == b"replay ignored"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {', id="cut"),
        pytest.param(b"not json at all", id="not-json"),
        pytest.param(b"\xff\xfe{}", id="not-utf8"),
        pytest.param(b"{}", id="empty-object"),
        pytest.param(b"[]", id="a-list"),
        pytest.param(b'"payment_intent.succeeded"', id="a-string"),
        pytest.param(b'{"id": "evt_1", "type": "payment_intent.succeeded"}', id="no-data"),
        pytest.param(
            b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": "pi_1"}}',
            id="object-not-an-object",
        ),
        pytest.param(
            b'{"id": "evt_1", "type": "payment_intent.succeeded", "data": {"object": {}}}',
            id="object-without-id",
        ),
        # PostgreSQL stores no NUL character; Python's json nests only so deep.
        pytest.param(
            b'{"id": "evt_\\u0000", "type": "x", "data": {"object": {"id": "pi_1"}}}',
            id="nul-in-the-event-id",
        ),
        pytest.param(
            b'{"id": "evt_1", "type": "x", "data": {"object": {"id": "pi_1", "\\u0000": 1}}}',
            id="nul-in-a-nested-key",
        ),
        pytest.param(
            b'{"id": "evt_1", "type": "x", "data": {"object": {"id": "\\ud800"}}}',
            id="lone-surrogate",
        ),
        pytest.param(b"[" * 100_000 + b"]" * 100_000, id="absurdly-nested"),
    ],
)
def test_a_correctly_signed_malformed_body_is_refused(client, order, body):
    response = post_event(client, body)

    assert (response.status_code, response.content) == (400, b"malformed payload")
    assert not WebhookEvent.objects.exists()
    assert_untouched(order)


@pytest.mark.django_db
def test_a_success_event_for_a_payment_stripe_has_not_captured_fulfils_nothing(
    client, order, localstripe
):
    """A signed event is only a hint: localstripe says the payment still needs a card."""
    intent = localstripe.api.v1.payment_intents.retrieve(order.gateway_reference)
    assert intent.status == "requires_payment_method"
    claimed = {**intent.to_dict(for_json=True), "status": "succeeded", "amount_received": 1950}

    response = post_event(client, event_payload(claimed, event_id="evt_early"))

    assert response.status_code == 200
    assert response.content.startswith(b"no change")
    assert WebhookEvent.objects.get(event_id="evt_early").order == order
    assert_untouched(order)


@pytest.mark.django_db
def test_a_payment_failed_event_fails_the_order_with_stripes_message(client, order, localstripe):
    with pytest.raises(stripe.CardError, match=r"Your card was declined\."):
        localstripe.confirm(order.gateway_reference, "pm_card_chargeCustomerFail")
    intent = localstripe.api.v1.payment_intents.retrieve(order.gateway_reference)

    response = post_event(client, event_payload(intent, "payment_intent.payment_failed"))

    assert (response.status_code, response.content) == (200, b"order failed")
    order.refresh_from_db()
    assert (order.status, order.failure_reason) == ("failed", "Your card was declined.")
    assert not Entitlement.objects.exists() and not LedgerTransaction.objects.exists()
    # A forged success for the declined payment does not pay it either.
    forged = event_payload({**intent.to_dict(for_json=True), "status": "succeeded"})
    assert post_event(client, forged).content.startswith(b"no change")
    order.refresh_from_db()
    assert order.status == "failed" and not LedgerTransaction.objects.exists()


@pytest.mark.django_db
def test_an_event_for_a_payment_we_know_nothing_of_is_acknowledged(client, order, localstripe):
    other = localstripe.api.v1.payment_intents.create(params={"amount": 500, "currency": "usd"})
    localstripe.confirm(other.id, "pm_card_visa")

    response = post_event(client, event_payload(other, event_id="evt_stranger"))

    assert (response.status_code, response.content) == (200, b"ignored: no order for this payment")
    assert WebhookEvent.objects.get(event_id="evt_stranger").order is None
    assert_untouched(order)


@pytest.mark.django_db
def test_while_stripe_is_unreachable_the_event_is_refused_for_retry_then_processed(
    client, order, paid_intent, stripe_settings, localstripe
):
    payload = event_payload(paid_intent, event_id="evt_retried")
    stripe_settings.STRIPE_API_BASE = f"http://127.0.0.1:{free_port()}"  # nothing listens

    down = post_event(client, payload)

    assert down.status_code == 503
    assert not WebhookEvent.objects.exists()  # so Stripe's retry is not taken for a replay
    assert_untouched(order)
    stripe_settings.STRIPE_API_BASE = localstripe.url
    retry = post_event(client, payload)
    assert (retry.status_code, retry.content) == (200, b"order paid")
    assert sales(order) == 1


def deliver_at_once(payloads):
    """Call the webhook handler from one thread per payload, all released together."""
    barrier = threading.Barrier(len(payloads))
    results, errors = [], []

    def deliver(payload):
        try:
            barrier.wait(timeout=10)
            results.append(webhooks.handle_stripe(payload, signature(payload)))
        except Exception as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver, args=(p,)) for p in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads), "a delivery hung"
    assert errors == []
    return results


@pytest.fixture
def concurrent_order(stripe_settings, localstripe):
    require(
        connection.vendor == "postgresql",
        "concurrent deliveries need PostgreSQL: set DATABASE_URL=postgres://...",
    )
    buyer, book = UserFactory(), BookFactory()
    order = stripe_order(buyer, book)
    intent = localstripe.confirm(order.gateway_reference, "pm_card_visa")
    return order, intent


@pytest.mark.django_db(transaction=True)
def test_the_same_event_delivered_twice_at_once_grants_once_and_books_one_sale(
    concurrent_order, mailoutbox
):
    order, intent = concurrent_order
    payload = event_payload(intent)

    results = deliver_at_once([payload, payload])

    assert sorted((r.status, r.outcome) for r in results) == [
        (200, "order paid"),
        (200, "replay ignored"),
    ]
    order.refresh_from_db()
    assert order.status == "paid"
    assert sales(order) == 1 and audit().ok
    assert Entitlement.objects.filter(user=order.buyer, book=order.book).count() == 1
    assert Book.objects.get(pk=order.book_id).sales_count == 1
    assert WebhookEvent.objects.count() == 1
    assert len(mailoutbox) == 1


@pytest.mark.django_db(transaction=True)
def test_two_different_success_events_at_once_grant_once_and_book_one_sale(
    concurrent_order, mailoutbox
):
    order, intent = concurrent_order

    results = deliver_at_once([event_payload(intent), event_payload(intent)])

    assert sorted((r.status, r.outcome) for r in results) == [
        (200, "no change"),
        (200, "order paid"),
    ]
    order.refresh_from_db()
    assert order.status == "paid"
    assert sales(order) == 1 and audit().ok
    assert Book.objects.get(pk=order.book_id).sales_count == 1
    assert WebhookEvent.objects.count() == 2
    assert len(mailoutbox) == 1


@pytest.mark.django_db
def test_a_webhook_finds_its_order_through_the_reference_index_not_a_scan_of_every_order():
    # The unique index on (gateway, gateway_reference) is partial (a cart's lines share
    # their Payment's reference): a lookup without its "payment IS NULL" could not use
    # it and read every order, 126 ms per webhook on the bench's million orders.
    require(connection.vendor == "postgresql", "query plans are PostgreSQL's")
    buyer = UserFactory()
    Order.objects.bulk_create(
        Order(buyer=buyer, book=BookFactory(), amount_cents=999, royalty_cents=royalty_for(999),
              gateway="stripe", gateway_reference=f"pi_{i}", checkout_token=uuid.uuid4())
        for i in range(3)
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # any usable index wins
    plan = Order.objects.paid_alone_by("stripe", "pi_1").explain()
    assert "order_gateway_reference_unique" in plan, plan
    assert Order.objects.paid_alone_by("stripe", "pi_1").get().gateway_reference == "pi_1"
    # What the webhook asked before: no index can answer it.
    before = Order.objects.filter(gateway="stripe", gateway_reference="pi_1").explain()
    assert "Seq Scan" in before, before
