"""A refund Stripe reports as failed after we booked it (refund.failed, or
refund.updated to "failed"): the booking is reversed by a new ledger transaction,
the order is paid again, the reader keeps the book and an admin sees it.

localstripe never fails a refund, so these tests make the refund it holds read as
failed (the one thing it cannot do); the events are signed and delivered as
Stripe's are.
"""

import dataclasses

import pytest

from library.services import owns
from payments import refunds
from payments.gateways.stripe import StripeGateway
from payments.ledger import audit
from payments.models import LedgerTransaction, Order, Refund
from tests.factories import BookFactory, UserFactory
from tests.payments.conftest import (
    event_payload,
    post_event,
    stripe_order,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def refunded(client, stripe_settings, localstripe):
    reader = UserFactory()
    client.force_login(reader)
    book = BookFactory(minimum_price_cents=999)
    order = stripe_order(reader, book, 1950)
    intent = localstripe.confirm(order.gateway_reference, "pm_card_visa")
    assert post_event(client, event_payload(intent)).content == b"order paid"
    result = refunds.refund_order(order_id=order.pk, actor=reader)
    assert result.outcome == refunds.Outcome.REFUNDED
    order.refresh_from_db()
    return order


@pytest.fixture
def refunds_fail_at_stripe(monkeypatch):
    real = StripeGateway.refund_state

    def failed(self, refund_id):
        outcome = real(self, refund_id)
        return dataclasses.replace(outcome, status="failed", succeeded=False) if outcome else None

    monkeypatch.setattr(StripeGateway, "refund_state", failed)


def refund_object(server, order) -> dict:
    listed = server.api.v1.refunds.list(
        params={"payment_intent": order.gateway_reference, "limit": 1}
    )
    return {**listed.data[0].to_dict(for_json=True), "status": "failed"}


@pytest.mark.parametrize("event_type", ["refund.failed", "refund.updated"])
def test_a_refund_that_fails_at_stripe_is_reversed_and_the_reader_keeps_the_book(
    client, refunded, localstripe, refunds_fail_at_stripe, event_type
):
    assert not owns(refunded.buyer, refunded.book)
    payload = event_payload(refund_object(localstripe, refunded), event_type)

    first = post_event(client, payload)
    again = post_event(client, event_payload(refund_object(localstripe, refunded), event_type))

    assert first.content == b"refund failed: booking reversed"
    assert again.status_code == 200 and again.content == b"no change"
    refunded.refresh_from_db()
    assert refunded.status == Order.Status.PAID
    assert refunded.refund.status == Refund.Status.REVERSED
    assert refunded.refund.gateway_status == "failed"
    assert owns(refunded.buyer, refunded.book)
    kinds = sorted(refunded.ledger_transactions.values_list("kind", flat=True))
    assert kinds == ["refund", "sale", "unrefund"]
    unrefund = LedgerTransaction.objects.get(order=refunded, kind="unrefund")
    assert unrefund.reverses.kind == "refund"
    assert audit().ok


def test_a_pending_refund_is_booked_and_remembered_as_pending(
    client, stripe_settings, localstripe, monkeypatch
):
    real = StripeGateway.refund

    def pending(self, **kwargs):
        return dataclasses.replace(real(self, **kwargs), status="pending")

    monkeypatch.setattr(StripeGateway, "refund", pending)
    reader = UserFactory()
    order = stripe_order(reader, BookFactory(minimum_price_cents=999), 1950)
    intent = localstripe.confirm(order.gateway_reference, "pm_card_visa")
    post_event(client, event_payload(intent))

    result = refunds.refund_order(order_id=order.pk, actor=reader)

    assert result.outcome == refunds.Outcome.REFUNDED
    assert result.refund.gateway_status == "pending"
    assert audit().ok
