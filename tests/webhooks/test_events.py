"""Refunds, releases and payouts reach the endpoints that want them; co-authors
each get their own share; an event is written with its change or not at all."""

import json

import pytest

from catalog.models import Release
from catalog.services import publish_release
from payments import payouts, refunds
from payments.models import PayoutAccount
from payments.signals import sale_completed
from tests.factories import AuthorFactory, BookFactory
from webhooks import tasks
from webhooks.models import Delivery, Event, EventType

from .conftest import add_endpoint, buy

pytestmark = pytest.mark.django_db(transaction=True)

ALL = [t.value for t in EventType]


def bodies(receiver, event_type):
    return [
        json.loads(r["body"])
        for r in receiver.requests
        if json.loads(r["body"])["type"] == event_type
    ]


def test_a_refund_sends_refund_completed_with_the_royalty_taken_back(client, seller, receiver):
    author, book = seller
    add_endpoint(author, receiver, ALL)
    order, _ = buy(client, book, "19.99")
    refunds.refund_order(order_id=order.pk, actor=order.buyer)
    refunds.refund_order(order_id=order.pk, actor=order.buyer)  # a second click
    tasks.send_due_webhooks()

    [refund] = bodies(receiver, "refund.completed")
    assert refund["data"]["order_id"] == str(order.public_id)
    assert refund["data"]["refunded_cents"] == 1999
    assert refund["data"]["royalty_reversed_cents"] == 1599
    assert all(all(r["verified"].values()) for r in receiver.requests)


def test_publishing_a_release_sends_release_published_once(client, seller, receiver):
    author, book = seller
    add_endpoint(author, receiver, [EventType.RELEASE_PUBLISHED])
    release = Release.objects.create(book=book, version="2.0", notes="Two new chapters.")
    publish_release(release=release)
    publish_release(release=release)  # published already: no second event
    tasks.send_due_webhooks()

    [published] = bodies(receiver, "release.published")
    assert published["data"]["version"] == "2.0"
    assert published["data"]["book"]["slug"] == book.slug
    assert Event.objects.count() == 1


def test_a_payout_marked_sent_sends_payout_sent(client, seller, receiver, settings):
    author, book = seller
    add_endpoint(author, receiver, [EventType.PAYOUT_SENT])
    settings.REFUND_WINDOW_DAYS = 0  # the royalty is available for payout at once
    buy(client, book, "19.99")
    PayoutAccount.objects.create(author=author, method="paypal", paypal_email="a@example.com")
    payout = payouts.create_payout_batch(threshold_cents=100).payouts.get()
    payouts.mark_sent(payout_id=payout.pk, reference="PP-1")
    payouts.mark_sent(payout_id=payout.pk, reference="PP-1")
    tasks.send_due_webhooks()

    [sent] = bodies(receiver, "payout.sent")
    assert sent["data"]["amount_cents"] == 1599
    assert sent["data"]["payout_id"] == payout.pk


def test_co_authors_each_get_their_own_share_under_their_own_event(client, receiver):
    ada, bob = AuthorFactory(), AuthorFactory()
    book = BookFactory(authors=[ada, bob], minimum_price_cents=999, suggested_price_cents=1999)
    add_endpoint(ada, receiver)
    add_endpoint(bob, receiver)
    buy(client, book, "20.00")
    tasks.send_due_webhooks()

    sales = bodies(receiver, "sale.completed")
    assert sorted(s["data"]["royalty_cents"] for s in sales) == [800, 800]
    assert len({s["id"] for s in sales}) == 2
    assert all(r["verified"] and any(r["verified"].values()) for r in receiver.requests)


def test_an_event_rolls_back_with_its_sale(client, seller, receiver):
    """Written in the sale's transaction: a sale that fails after the event was
    recorded (here, a later receiver) leaves no event and no delivery behind."""
    author, book = seller
    add_endpoint(author, receiver)

    def fail(sender, order, **kwargs):
        assert Event.objects.filter(key=f"order-{order.pk}").exists()  # recorded first
        raise RuntimeError("something after the event broke")

    sale_completed.connect(fail, dispatch_uid="test-fail")
    try:
        with pytest.raises(RuntimeError):
            buy(client, book)
    finally:
        sale_completed.disconnect(dispatch_uid="test-fail")
    assert Event.objects.count() == 0
    assert Delivery.objects.count() == 0
    assert tasks.send_due_webhooks() == 0
