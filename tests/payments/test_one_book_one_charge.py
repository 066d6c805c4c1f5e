"""One book, one charge: a reader is never charged twice for a book, whatever the
order of tabs, clicks, webhooks, credits and refunds (issue 17).

Each test is what a customer did; each failed on the code before the fix: both
tabs were booked as sales, a refund of the first order took away the book the
second still paid for, and a double-clicked checkout could answer 500.
"""

import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse

from core.models import EmailDelivery
from library.models import Entitlement
from library.services import owns, revoke_entitlement
from payments import credit_purchases, credits, refunds, services
from payments.ledger import audit
from payments.models import LedgerTransaction, Order, Refund
from tests.concurrency import at_once
from tests.conftest import require
from tests.factories import BookFactory, UserFactory
from tests.payments.conftest import (
    event_payload,
    post_event,
    stripe_order,
)

pytestmark = pytest.mark.django_db

VISA = "4242 4242 4242 4242"


def checkout_tab(client, book, amount="19.50"):
    """Open a checkout page and submit it: the order of that tab, waiting to be paid."""
    response = client.post(
        reverse("payments:pay", args=[book.slug]),
        {"amount": amount, "checkout_token": str(uuid.uuid4())},
    )
    assert response.status_code == 302
    return Order.objects.get(public_id=response["Location"].rstrip("/").split("/")[-2])


def pay_with_card(client, order, card=VISA):
    return client.post(
        reverse("payments:pay_order", args=[order.public_id]),
        {"card_number": card, "expiry": "12/34", "cvc": "123"},
    )


def sales_of(reader, book):
    return LedgerTransaction.objects.filter(
        kind="sale", order__buyer=reader, order__book=book
    ).count()


def test_two_checkout_tabs_paid_one_after_the_other_charge_once(client, reader, book):
    first, second = checkout_tab(client, book), checkout_tab(client, book)

    assert pay_with_card(client, first).status_code == 302
    response = pay_with_card(client, second)  # the second tab, still open

    assert response.status_code == 302 and response["Location"] == reverse("library:index")
    second.refresh_from_db()
    assert second.status == Order.Status.EXPIRED
    assert "nothing was charged" in second.failure_reason
    assert sales_of(reader, book) == 1
    assert owns(reader, book)
    assert audit().ok


def test_a_payment_captured_for_an_owned_book_is_refunded_in_full_once(
    reader, book, django_capture_on_commit_callbacks
):
    """Both tabs' payments went through at the gateway (the demo card in two tabs at
    the same instant, or two Stripe tabs): the second is never a sale."""
    first = services.place_order(
        buyer=reader, book=book, amount_cents=1950, checkout_token=uuid.uuid4()
    )
    second = services.place_order(
        buyer=reader, book=book, amount_cents=2500, checkout_token=uuid.uuid4()
    )
    assert services.mark_paid(order_id=first.pk, amount_cents=1950)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.mark_paid(order_id=second.pk, amount_cents=2500)
    # A replayed capture event changes nothing more.
    with django_capture_on_commit_callbacks(execute=True):
        assert not services.mark_paid(order_id=second.pk, amount_cents=2500)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == Order.Status.PAID
    assert second.status == Order.Status.REFUNDED
    assert second.refund.status == Refund.Status.REFUNDED and second.refund.amount_cents == 2500
    assert sales_of(reader, book) == 1
    kinds = sorted(second.ledger_transactions.values_list("kind", flat=True))
    assert kinds == ["double", "refund"]
    assert EmailDelivery.objects.filter(key=f"double-payment:order-{second.pk}").count() == 1
    assert owns(reader, book)
    assert Entitlement.objects.get(user=reader, book=book).order_ref == first.public_id
    assert audit().ok

    # Refunding the order that really paid takes the book; the double payment's
    # refund never did.
    result = refunds.refund_order(order_id=first.pk, actor=reader)
    assert result.outcome == refunds.Outcome.REFUNDED
    assert not owns(reader, book)
    assert audit().ok


def test_refunding_one_order_takes_back_only_what_that_order_granted(reader, book):
    first = services.place_order(
        buyer=reader, book=book, amount_cents=1950, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=first.pk, amount_cents=1950)
    refunds.refund_order(order_id=first.pk, actor=reader)
    again = services.place_order(
        buyer=reader, book=book, amount_cents=1950, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=again.pk, amount_cents=1950)

    # A late refund event of the first order, or an admin's click on it, changes nothing.
    assert not revoke_entitlement(user=reader, book=book, order_ref=first.public_id)
    assert not refunds.complete_refund(order_id=first.pk, gateway_refund_id="re_late")
    assert owns(reader, book)
    assert audit().ok


def test_a_stripe_payment_arriving_after_a_credit_purchase_is_refunded_at_stripe_once(
    client, reader, book, stripe_settings, localstripe, django_capture_on_commit_callbacks
):
    order = stripe_order(reader, book, 1950)  # the Stripe tab
    intent = localstripe.confirm(order.gateway_reference, "pm_card_visa")
    credits.grant_credits(user=reader, credits=1)
    credit_purchases.buy_with_credit(buyer=reader, book=book, checkout_token=uuid.uuid4())

    for _ in range(2):  # Stripe delivers the event twice
        with django_capture_on_commit_callbacks(execute=True):
            response = post_event(client, event_payload(intent))
        assert response.status_code == 200

    order.refresh_from_db()
    assert order.status == Order.Status.REFUNDED
    stripe_refunds = localstripe.api.v1.refunds.list(
        params={"payment_intent": order.gateway_reference, "limit": 100}
    ).data
    assert [(r.amount, r.status) for r in stripe_refunds] == [(1950, "succeeded")]
    assert owns(reader, book) and sales_of(reader, book) == 1
    assert audit().ok


def test_a_paid_book_removed_from_the_library_comes_back_without_a_second_charge(
    client, reader, book
):
    order = checkout_tab(client, book)
    pay_with_card(client, order)
    client.post(reverse("library:remove", args=[book.slug]))
    assert not owns(reader, book)

    response = client.post(
        reverse("payments:pay", args=[book.slug]),
        {"amount": "19.50", "checkout_token": str(uuid.uuid4())},
    )

    assert response.status_code == 200
    assert b"already" in response.content
    assert owns(reader, book)
    assert Order.objects.filter(buyer=reader, book=book).count() == 1


def test_the_database_refuses_a_second_paid_order_for_the_same_book(reader, book):
    order = services.place_order(
        buyer=reader, book=book, amount_cents=1950, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=order.pk, amount_cents=1950)
    with pytest.raises(IntegrityError), transaction.atomic():
        Order.objects.create(
            buyer=reader,
            book=book,
            amount_cents=1950,
            royalty_cents=1560,
            gateway="demo",
            checkout_token=uuid.uuid4(),
            status=Order.Status.PAID,
        )


def test_a_double_clicked_checkout_makes_one_order_and_no_error(transactional_db):
    """The same checkout page posted six times at once (PostgreSQL: the insert race)."""
    require(connection.vendor == "postgresql", "concurrent inserts need PostgreSQL")
    reader, book = UserFactory(), BookFactory(minimum_price_cents=999)
    token = str(uuid.uuid4())

    def click():
        client = Client()
        client.force_login(reader)
        response = client.post(
            reverse("payments:pay", args=[book.slug]),
            {"amount": "19.50", "checkout_token": token},
        )
        return response.status_code

    statuses = at_once(*[click] * 6)

    assert statuses == [302] * 6
    assert Order.objects.filter(buyer=reader).count() == 1


def test_two_tabs_paying_at_the_same_instant_book_one_sale(transactional_db):
    """PostgreSQL: both confirmations race for the reader's lock; the loser is refunded."""
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    reader, book = UserFactory(), BookFactory(minimum_price_cents=999)
    orders = [
        services.place_order(
            buyer=reader, book=book, amount_cents=1950, checkout_token=uuid.uuid4()
        )
        for _ in range(2)
    ]
    at_once(*(lambda o=o: services.mark_paid(order_id=o.pk, amount_cents=1950) for o in orders))

    statuses = sorted(Order.objects.filter(buyer=reader).values_list("status", flat=True))
    assert statuses == ["paid", "refunded"]
    assert sales_of(reader, book) == 1
    assert owns(reader, book)
    assert audit().ok


# Credits worth less than the card minimum ------------------------------------------


def test_a_credit_worth_less_than_99_cents_buys_a_book(book):
    """A Stripe proration or an old plan can make a credit cheap: the purchase works,
    the royalty follows royalties.royalty_for_credit, and the ledger balances."""
    from payments.models import CreditEntry, CreditLot
    from payments.royalties import royalty_for_credit

    reader = UserFactory()
    pack = Order.objects.create(
        buyer=reader,
        product=Order.Product.CREDITS,
        credits=3,
        amount_cents=200,  # 66, 66 and 68 cents a credit
        royalty_cents=0,
        gateway="demo",
        checkout_token=uuid.uuid4(),
    )
    services.mark_paid(order_id=pack.pk, amount_cents=200)

    order = credit_purchases.buy_with_credit(buyer=reader, book=book, checkout_token=uuid.uuid4())

    assert (order.amount_cents, order.royalty_cents) == (66, royalty_for_credit(66)) == (66, 3)
    assert owns(reader, book)
    assert CreditLot.objects.get(order=pack).credits == 3
    assert CreditEntry.objects.filter(owner=reader, kind="spent").count() == 1
    assert audit().ok


@pytest.mark.parametrize(
    ("value", "royalty"),
    [(0, 0), (1, 0), (62, 0), (63, 0), (64, 1), (98, 28), (99, 29), (333, 216), (999, 799)],
)
def test_a_credits_royalty_extends_the_low_price_line_and_never_goes_below_zero(value, royalty):
    from payments.royalties import royalty_for_credit

    assert royalty_for_credit(value) == royalty


@pytest.mark.parametrize(
    "packs", ["10:5.00", "3:2.96", "1:0.98"], ids=["50c", "98c-and-change", "98c"]
)
def test_packs_whose_credits_are_worth_less_than_99_cents_stop_the_start(packs):
    from storefront.settings import _credit_packs

    with pytest.raises(ValueError, match="less than 99 cents"):
        _credit_packs(packs)
    assert _credit_packs("3:2.97") == {3: 297}
