"""A webhook that cannot take its row lock in time answers 503 and changes nothing,
so Stripe delivers the event again; the replay then completes it exactly once
(PostgreSQL: real row locks held by a second connection)."""

import threading
import time
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection

from core.models import EmailDelivery
from payments.ledger import audit
from payments.models import LedgerTransaction, Order, Refund, WebhookEvent
from tests.conftest import require
from tests.payments.conftest import event_payload, post_event, stripe_order
from tests.payments.test_stripe_refunds import assert_refunded_once, charge_of, refund_event

pytestmark = pytest.mark.django_db(transaction=True)

# Without the protection the webhook would wait for the lock; the holder gives up
# after this long so such a failure shows as a wrong answer, not a hung suite.
HOLD_AT_MOST = 15


@contextmanager
def row_locked(table: str, pk: int):
    """Another request's transaction holding ``table`` row ``pk`` FOR UPDATE."""
    other = psycopg.connect(**connection.get_connection_params())
    try:
        other.execute(f"SELECT id FROM {table} WHERE id = %s FOR UPDATE", [pk])  # noqa: S608
        give_up = threading.Timer(HOLD_AT_MOST, other.rollback)
        give_up.start()
        try:
            yield
        finally:
            give_up.cancel()
            other.rollback()
    finally:
        other.close()


@pytest.fixture
def short_lock_wait(settings, stripe_settings):
    require(connection.vendor == "postgresql", "row lock timeouts need PostgreSQL")
    settings.WEBHOOK_LOCK_TIMEOUT_MS = 300
    return settings


def test_a_payment_webhook_answers_503_while_the_order_is_locked_and_the_replay_pays_once(
    client, reader, book, short_lock_wait, localstripe
):
    order = stripe_order(reader, book, 1950)
    intent = localstripe.confirm(order.gateway_reference, "pm_card_visa")
    payload = event_payload(intent, event_id="evt_locked_payment")

    with row_locked("payments_order", order.pk):
        started = time.monotonic()
        busy = post_event(client, payload)
        waited = time.monotonic() - started

    assert (busy.status_code, busy.content) == (503, b"busy: another request holds the lock, retry")
    assert waited < HOLD_AT_MOST / 2
    order.refresh_from_db()
    assert (order.status, order.paid_at) == ("pending", None)
    assert not WebhookEvent.objects.exists()  # still unclaimed: the replay is processed
    assert not LedgerTransaction.objects.exists()
    assert not EmailDelivery.objects.exists()

    replay = post_event(client, payload)
    again = post_event(client, payload)

    assert (replay.status_code, replay.content) == (200, b"order paid")
    assert (again.status_code, again.content) == (200, b"replay ignored")
    order.refresh_from_db()
    assert order.status == "paid"
    assert LedgerTransaction.objects.filter(order=order, kind="sale").count() == 1
    assert EmailDelivery.objects.filter(key=f"receipt:order-{order.pk}").count() == 1
    assert WebhookEvent.objects.get(event_id="evt_locked_payment").outcome == "order paid"
    report = audit()
    assert report.ok, report.problems


def test_a_refund_webhook_answers_503_while_the_order_is_locked_and_the_replay_refunds_once(
    client, reader, book, short_lock_wait, localstripe
):
    order = stripe_order(reader, book, 1950)
    intent = localstripe.confirm(order.gateway_reference, "pm_card_visa")
    assert post_event(client, event_payload(intent)).content == b"order paid"
    made = localstripe.api.v1.refunds.create(params={"payment_intent": order.gateway_reference})
    payload = refund_event(charge_of(localstripe, order), event_id="evt_locked_refund")

    with row_locked("payments_order", order.pk):
        busy = post_event(client, payload)

    assert busy.status_code == 503
    order.refresh_from_db()
    assert order.status == "paid"
    assert not Refund.objects.exists()
    assert not WebhookEvent.objects.filter(event_id="evt_locked_refund").exists()
    assert not EmailDelivery.objects.filter(key__startswith="refund-done:").exists()

    assert post_event(client, payload).content == b"order refunded"
    assert post_event(client, payload).content == b"replay ignored"
    assert_refunded_once(order, made.id)
    assert Order.objects.get(pk=order.pk).status == "refunded"
