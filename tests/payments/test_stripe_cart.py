"""A cart paid with Stripe, against localstripe: one PaymentIntent for three lines,
fulfilled by localstripe's signed webhook; one line refunded as a partial refund
of that PaymentIntent; replayed and late webhooks book nothing twice."""

import time

import pytest
from django.db import connection
from django.urls import reverse

from library.models import Entitlement
from payments.ledger import audit
from payments.models import LedgerTransaction, Order, Payment, Refund
from tests.factories import BookFactory
from tests.payments.conftest import event_payload, post_event, wait_for
from tests.payments.test_stripe_refunds import EVENT_DELAY

pytestmark = pytest.mark.django_db(transaction=True)

AMOUNTS = {"First": "10.00", "Second": "24.99", "Third": "7.99"}


@pytest.fixture
def three_books():
    return [
        BookFactory(title=title, minimum_price_cents=799, suggested_price_cents=1999)
        for title in AMOUNTS
    ]


def checkout_cart(client, books):
    """Add the books at their amounts, pay the cart: the PaymentIntent's page."""
    for book in books:
        client.get(reverse("payments:cart_add", args=[book.slug]), {"amount": AMOUNTS[book.title]})
    page = client.get(reverse("payments:cart"))
    response = client.post(
        reverse("payments:cart_checkout"),
        {
            "checkout_token": str(page.context["checkout_token"]),
            "version": page.context["contents"].version,
        },
    )
    payment = Payment.objects.get()
    assert response["Location"] == payment.get_absolute_url()
    return payment, client.get(response["Location"]).content.decode()


def test_one_payment_intent_pays_three_lines_and_one_line_is_refunded_alone(
    client, reader, three_books, stripe_settings, stripe_webhooks
):
    if connection.vendor == "sqlite":
        time.sleep(EVENT_DELAY)  # an event another test left at localstripe arrives now
    payment, html = checkout_cart(client, three_books)

    intent = stripe_webhooks.api.v1.payment_intents.retrieve(payment.gateway_reference)
    assert f'data-client-secret="{intent.client_secret}"' in html
    assert (intent.amount, intent.metadata["payment_id"]) == (1000 + 2499 + 799, str(payment.pk))
    orders = list(Order.objects.filter(payment=payment).order_by("pk"))
    assert {o.gateway_reference for o in orders} == {intent.id}

    delivered_before = len(stripe_webhooks.deliveries())
    assert stripe_webhooks.confirm(intent.id, "pm_card_visa").status == "succeeded"

    # Wait for localstripe's delivery, not for rows the live server may be writing
    # (on SQLite it shares this thread's in-memory database).
    assert wait_for(
        lambda: (
            "payment_intent.succeeded: delivered" in stripe_webhooks.deliveries()[delivered_before:]
        )
    ), stripe_webhooks.deliveries()
    assert Payment.objects.get().status == "paid"
    assert not Order.objects.exclude(status="paid").exists()
    assert LedgerTransaction.objects.filter(kind="sale").count() == 3
    assert Entitlement.objects.filter(user=reader, revoked_at=None).count() == 3

    # Replays: the same event again, and a new event about the same payment.
    succeeded = event_payload(stripe_webhooks.api.v1.payment_intents.retrieve(intent.id))
    assert post_event(client, succeeded).content == b"no change"
    assert post_event(client, succeeded).content == b"replay ignored"
    assert LedgerTransaction.objects.filter(kind="sale").count() == 3

    # The reader refunds the second book: a partial refund of the PaymentIntent.
    second = next(o for o in orders if o.book.title == "Second")
    response = client.post(reverse("payments:refund", args=[second.public_id]), {"reason": ""})
    assert response.status_code == 302
    at_stripe = stripe_webhooks.api.v1.refunds.list(params={"payment_intent": intent.id}).data
    assert [(r.amount, r.metadata["refund_key"]) for r in at_stripe] == [
        (2499, f"order-{second.public_id}-refund")
    ]
    assert Order.objects.get(pk=second.pk).status == "refunded"
    assert sorted(Order.objects.filter(status="paid").values_list("book__title", flat=True)) == [
        "First",
        "Third",
    ]

    # Stripe's refund events, late and replayed: nothing is booked twice, and the
    # other lines are not taken for refunded.
    refund_obj = at_stripe[0].to_dict(for_json=True)
    created = event_payload(refund_obj, "refund.created")
    assert b"no change" in post_event(client, created).content
    assert post_event(client, created).content == b"replay ignored"
    latest = stripe_webhooks.api.v1.payment_intents.retrieve(intent.id).latest_charge
    charge = stripe_webhooks.api.v1.charges.retrieve(
        latest if isinstance(latest, str) else latest.id
    )
    assert (
        b"no change"
        in post_event(client, event_payload(charge.to_dict(), "charge.refunded")).content
    )
    assert LedgerTransaction.objects.filter(kind="refund").count() == 1
    assert Refund.objects.get().order_id == second.pk

    # A second line refunded later is its own partial refund, not the first one again.
    first = next(o for o in orders if o.book.title == "First")
    client.post(reverse("payments:refund", args=[first.public_id]), {"reason": ""})
    at_stripe = stripe_webhooks.api.v1.refunds.list(params={"payment_intent": intent.id}).data
    assert sorted(r.amount for r in at_stripe) == [1000, 2499]
    assert Order.objects.get(pk=first.pk).status == "refunded"
    assert Entitlement.objects.get(user=reader, book__title="Third").is_active
    report = audit()
    assert report.ok, report.problems


def test_a_refund_made_by_hand_in_stripes_dashboard_is_never_guessed_onto_a_line(
    client, reader, three_books, stripe_settings, localstripe
):
    payment, _html = checkout_cart(client, three_books)
    intent = localstripe.confirm(payment.gateway_reference, "pm_card_visa")
    assert post_event(client, event_payload(intent)).content == b"cart paid"
    refund = localstripe.api.v1.refunds.create(params={"payment_intent": intent.id, "amount": 1000})

    response = post_event(client, event_payload(refund.to_dict(for_json=True), "refund.created"))

    assert response.status_code == 200
    assert b"is for no line of this cart" in response.content
    assert not Order.objects.exclude(status="paid").exists()
    assert audit().ok
