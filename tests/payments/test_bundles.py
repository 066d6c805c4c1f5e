"""Buying a bundle: one payment whose orders are the bundle's books (the ones the
reader does not own) at their parts of the price, each its own sale to the cent
with its co-author shares; refunded as one, every sale exactly reversed; bad
input refused with a clear message and nothing charged."""

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from catalog.models import BookAuthor
from core.models import EmailDelivery
from library.models import Entitlement
from payments import bundle_purchases, cart_payments, services
from payments.ledger import audit
from payments.models import LedgerEntry, LedgerTransaction, Order, Payment, Refund
from tests.concurrency import at_once
from tests.conftest import require
from tests.factories import AuthorFactory, BookFactory, UserFactory, listed_bundle
from tests.payments.conftest import DECLINED, VISA

pytestmark = pytest.mark.django_db


@pytest.fixture
def trio():
    """Three books: a solo one, one co-written 60/40, a cheap one; in one bundle."""
    solo = BookFactory(title="Solo", minimum_price_cents=999, suggested_price_cents=1999)
    duo = BookFactory(
        title="Duo",
        minimum_price_cents=999,
        suggested_price_cents=2499,
        authors=[AuthorFactory(display_name="Ann"), AuthorFactory(display_name="Bob")],
    )
    first, second = BookAuthor.objects.filter(book=duo).order_by("position")
    first.royalty_share, second.royalty_share = 60, 40
    first.save(), second.save()
    cheap = BookFactory(title="Cheap", minimum_price_cents=499, suggested_price_cents=999)
    bundle = listed_bundle(
        [solo, duo, cheap], minimum_cents=2000, suggested_cents=3000, slug="trio"
    )
    return bundle, solo, duo, cheap


def checkout_url(bundle):
    return reverse("payments:bundle_checkout", args=[bundle.slug])


def checkout_form(client, bundle, amount) -> dict:
    """The hidden fields of the bundle checkout page, as the browser posts them."""
    page = client.get(checkout_url(bundle), {"amount": amount})
    assert page.status_code == 200, page.content.decode()
    return {
        "amount": amount,
        "checkout_token": str(page.context["checkout_token"]),
        "version": page.context["version"],
    }


def pay(client, bundle, form, card=VISA):
    return client.post(
        checkout_url(bundle), {**form, "card_number": card, "expiry": "12/34", "cvc": "123"}
    )


def author_entries(order) -> dict[str, int]:
    sale = LedgerTransaction.objects.get(order=order, kind="sale")
    return {
        e.author.display_name if e.author else e.account: e.amount_cents
        for e in sale.entries.select_related("author")
    }


def test_a_bundle_with_co_authors_is_one_payment_and_a_sale_per_book_to_the_cent(
    client, trio, django_capture_on_commit_callbacks
):
    bundle, _solo, duo, cheap = trio
    reader = UserFactory()
    client.force_login(reader)
    page = client.get(bundle.get_absolute_url())
    html = page.content.decode()
    assert "Solo" in html and "Duo" in html and "Cheap" in html
    # At the suggested $30: parts 10.91 / 13.64 / 5.45 (by 19.99 : 24.99 : 9.99, largest
    # remainder); royalties 8.73 / 10.91 (Ann 6.55, Bob 4.36) / 3.86 (80% − 50¢).
    assert {a.display_name: c for a, c in page.context["earnings"]}["Ann"] == 655
    assert "$6.55" in html and "$4.36" in html and "$23.50" in html

    with django_capture_on_commit_callbacks(execute=True):
        response = pay(client, bundle, checkout_form(client, bundle, "30.00"))

    assert response["Location"] == reverse("library:index")
    payment = Payment.objects.get()
    assert (payment.status, payment.amount_cents) == ("paid", 3000)
    orders = {o.book: o for o in payment.orders.all()}
    assert {b.title: (o.amount_cents, o.royalty_cents, o.status) for b, o in orders.items()} == {
        "Solo": (1091, 873, "paid"),
        "Duo": (1364, 1091, "paid"),
        "Cheap": (545, 386, "paid"),
    }
    assert {o.bundle_id for o in orders.values()} == {bundle.pk}
    assert len({o.bundle_sale for o in orders.values()}) == 1
    duo_sale = author_entries(orders[duo])
    assert (duo_sale["Ann"], duo_sale["Bob"], duo_sale["platform"]) == (655, 436, 273)
    assert duo_sale["processor"] == -1364
    assert author_entries(orders[cheap])["platform"] == 159
    assert (
        sum(
            e.amount_cents
            for e in LedgerEntry.objects.filter(account="platform", transaction__kind="sale")
        )
        == 3000 - 873 - 1091 - 386
    )
    assert Entitlement.objects.active().filter(user=reader).count() == 3
    receipt = EmailDelivery.objects.get(key__startswith="receipt:")  # one, the bundle one line
    assert "The bundle “Bundle" in receipt.body and "$30.00" in receipt.body
    assert receipt.body.count("refund of the whole bundle") == 1
    assert reverse("payments:bundle_refund", args=[orders[duo].bundle_sale]) in receipt.body
    assert audit().ok, audit().problems


def test_refunding_the_bundle_reverses_every_sale_exactly(client, trio):
    bundle, solo, duo, cheap = trio
    reader = UserFactory()
    client.force_login(reader)
    pay(client, bundle, checkout_form(client, bundle, "27.50"))
    order = Order.objects.filter(bundle=bundle).first()
    sale = order.bundle_sale
    # The one-book refund link of a bundle's order leads to the bundle's refund.
    assert client.get(reverse("payments:refund", args=[order.public_id]))["Location"] == reverse(
        "payments:bundle_refund", args=[sale]
    )
    assert "Refund the bundle" in client.get(order.get_absolute_url()).content.decode()
    confirm = client.get(reverse("payments:bundle_refund", args=[sale]))
    assert "$27.50" in confirm.content.decode()

    client.post(reverse("payments:bundle_refund", args=[sale]), {"reason": ""})
    client.post(reverse("payments:bundle_refund", args=[sale]), {"reason": ""})  # double click

    orders = list(Order.objects.filter(bundle_sale=sale))
    assert {o.status for o in orders} == {"refunded"}
    assert sorted(r.amount_cents for r in Refund.objects.all()) == sorted(
        o.amount_cents for o in orders
    )
    assert sum(o.amount_cents for o in orders) == 2750
    for o in orders:
        sale_tx = LedgerTransaction.objects.get(order=o, kind="sale")
        refund_tx = LedgerTransaction.objects.get(order=o, kind="refund")
        mirrored = sorted((e.account, e.author_id, -e.amount_cents) for e in sale_tx.entries.all())
        assert (
            sorted((e.account, e.author_id, e.amount_cents) for e in refund_tx.entries.all())
            == mirrored
        )
    for author in (a for b in (solo, duo, cheap) for a in b.author_list):
        assert (
            sum(LedgerEntry.objects.filter(author=author).values_list("amount_cents", flat=True))
            == 0
        )
    assert not Entitlement.objects.active().filter(user=reader).exists()
    assert audit().ok, audit().problems


def test_someone_elses_bundle_purchase_is_a_404(client, trio):
    bundle = trio[0]
    buyer = UserFactory()
    client.force_login(buyer)
    pay(client, bundle, checkout_form(client, bundle, "30"))
    sale = Order.objects.filter(bundle=bundle).first().bundle_sale
    client.force_login(UserFactory())
    assert client.get(reverse("payments:bundle_refund", args=[sale])).status_code == 404
    assert client.post(reverse("payments:bundle_refund", args=[sale])).status_code == 404
    assert not Refund.objects.exists()


def test_a_reader_who_owns_a_book_pays_only_for_the_rest(client, trio):
    bundle, _solo, duo, _cheap = trio
    reader = UserFactory()
    owned = services.place_order(
        buyer=reader, book=duo, amount_cents=2499, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=owned.pk, amount_cents=2499)
    client.force_login(reader)

    page = client.get(bundle.get_absolute_url())
    offer = page.context["offer"]
    assert "Complete the bundle" in page.content.decode()
    # $20/$30 scaled by (19.99 + 9.99) / 54.97 of the weights, rounded up.
    assert (offer.bounds.minimum, offer.bounds.suggested) == (1091, 1637)
    assert [b.title for b in offer.books] == ["Solo", "Cheap"]
    assert client.get(checkout_url(bundle), {"amount": "10.90"}).status_code == 400

    pay(client, bundle, checkout_form(client, bundle, "17.00"))

    payment = Payment.objects.get()
    assert payment.amount_cents == 1700
    assert sorted((o.book.title, o.amount_cents) for o in payment.orders.all()) == [
        ("Cheap", 566),
        ("Solo", 1134),
    ]
    assert not Order.objects.filter(book=duo, bundle=bundle).exists()
    assert Entitlement.objects.active().filter(user=reader).count() == 3
    assert audit().ok, audit().problems
    # Owning all of them now: nothing left to buy.
    assert "You own every book" in client.get(bundle.get_absolute_url()).content.decode()
    assert client.get(checkout_url(bundle), {"amount": "30"})["Location"] == reverse(
        "library:index"
    )


def test_a_double_click_pays_once(client, trio):
    bundle = trio[0]
    client.force_login(UserFactory())
    form = checkout_form(client, bundle, "30")
    pay(client, bundle, form)
    pay(client, bundle, form)
    assert Payment.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind="sale").count() == 3


def test_replayed_payment_events_book_each_sale_once(trio):
    bundle = trio[0]
    reader = UserFactory()
    payment = bundle_purchases.place_bundle_payment(
        buyer=reader, bundle_id=bundle.pk, amount_cents=3000, checkout_token=uuid.uuid4()
    )
    ref = cart_payments.start_payment(payment).reference
    for _ in range(2):
        cart_payments.mark_payment_paid(payment_id=payment.pk, amount_cents=3000, reference=ref)
    cart_payments.mark_payment_failed(payment_id=payment.pk, reason="late", reference=ref)
    assert LedgerTransaction.objects.filter(kind="sale").count() == 3
    assert audit().ok, audit().problems


@pytest.mark.parametrize(
    ("amount", "message"),
    [("19.99", "The minimum price for this bundle is $20.00."), ("abc", ""), ("", "Enter")],
)
def test_a_bad_amount_is_refused_and_nothing_charged(client, trio, amount, message):
    bundle = trio[0]
    client.force_login(UserFactory())
    form = {**checkout_form(client, bundle, "30"), "amount": amount}
    response = pay(client, bundle, form)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not Payment.objects.exists() and not Order.objects.exists()


def test_a_book_retired_after_the_page_was_shown_is_named_and_nothing_charged(client, trio):
    bundle, _solo, _duo, cheap = trio
    client.force_login(UserFactory())
    form = checkout_form(client, bundle, "30")
    cheap.status = "retired"
    cheap.save()
    response = pay(client, bundle, form)
    assert response.status_code == 409
    assert "“Cheap” is not for sale" in response.content.decode()
    assert "Nothing was charged" in response.content.decode()
    assert not Payment.objects.exists() and not Order.objects.exists()
    # The service refuses it too, whatever page called it.
    with pytest.raises(services.CheckoutError, match="Cheap"):
        bundle_purchases.place_bundle_payment(
            buyer=UserFactory(), bundle_id=bundle.pk, amount_cents=3000, checkout_token=uuid.uuid4()
        )


def test_a_book_bought_in_another_tab_makes_the_page_stale(client, trio):
    bundle, solo, *_ = trio
    reader = UserFactory()
    client.force_login(reader)
    form = checkout_form(client, bundle, "30")
    other = services.place_order(
        buyer=reader, book=solo, amount_cents=1999, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=other.pk, amount_cents=1999)
    response = pay(client, bundle, form)
    assert response.status_code == 409
    assert "Nothing was charged" in response.content.decode()
    assert not Payment.objects.exists()


def test_a_declined_card_charges_nothing_and_the_page_can_pay_again(client, trio):
    bundle = trio[0]
    reader = UserFactory()
    client.force_login(reader)
    form = checkout_form(client, bundle, "30")
    assert pay(client, bundle, form, card=DECLINED).status_code == 402
    assert not LedgerTransaction.objects.exists()
    assert pay(client, bundle, form)["Location"] == reverse("library:index")
    assert Entitlement.objects.active().filter(user=reader).count() == 3


def test_a_bundle_without_every_consent_is_a_404_everywhere(client, trio):
    bundle = trio[0]
    bundle.consents.exclude(author=bundle.created_by).update(status="pending")
    client.force_login(UserFactory())
    assert client.get(bundle.get_absolute_url()).status_code == 404
    assert client.get(checkout_url(bundle), {"amount": "30"}).status_code == 404
    assert client.post(checkout_url(bundle), {"amount": "30"}).status_code == 404
    with pytest.raises(services.CheckoutError, match="has not consented"):
        bundle_purchases.place_bundle_payment(
            buyer=UserFactory(), bundle_id=bundle.pk, amount_cents=3000, checkout_token=uuid.uuid4()
        )


def test_an_anonymous_visitor_is_sent_to_log_in_and_back(client, trio):
    bundle = trio[0]
    assert client.get(bundle.get_absolute_url()).status_code == 200
    response = client.get(checkout_url(bundle), {"amount": "30"})
    assert response.status_code == 302
    assert "next=" in response["Location"] and "amount" in response["Location"]


def test_the_bundle_page_amount_without_js_shows_earnings_at_that_amount(client, trio):
    bundle = trio[0]
    page = client.get(bundle.get_absolute_url(), {"amount": "20"})
    assert page.context["amount"] == 2000
    assert client.get(bundle.get_absolute_url(), {"amount": "5"}).status_code == 400


def test_the_bundle_page_costs_the_same_queries_for_2_or_8_books(
    client, django_assert_max_num_queries
):
    small = listed_bundle([BookFactory(), BookFactory()], slug="small")
    big_books = [BookFactory(authors=[AuthorFactory(), AuthorFactory()]) for _ in range(8)]
    big = listed_bundle(big_books, minimum_cents=9000, suggested_cents=12000, slug="big")
    client.force_login(UserFactory())
    client.get(small.get_absolute_url())
    for bundle in (small, big):
        with django_assert_max_num_queries(9):
            assert client.get(bundle.get_absolute_url()).status_code == 200


# Two tabs, two clicks at the same instant (PostgreSQL) ---------------------------------


def test_a_double_clicked_bundle_checkout_makes_one_payment(transactional_db):
    require(connection.vendor == "postgresql", "concurrent inserts need PostgreSQL")
    bundle = listed_bundle([BookFactory(), BookFactory()], slug="pair")
    reader = UserFactory()
    setup = Client()
    setup.force_login(reader)
    form = checkout_form(setup, bundle, "25")

    def click():
        client = Client()
        client.force_login(reader)
        return pay(client, bundle, form).status_code

    statuses = at_once(*[click] * 4)

    assert set(statuses) <= {302, 402}  # a click finding the payment being paid says so
    assert Payment.objects.count() == 1
    assert LedgerTransaction.objects.filter(kind="sale").count() == 2
    assert audit().ok, audit().problems


def test_two_tabs_paying_the_bundle_at_once_sell_each_book_once(transactional_db):
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    books = [BookFactory(), BookFactory()]
    bundle = listed_bundle(books, slug="pair")
    reader = UserFactory()
    payments = [
        bundle_purchases.place_bundle_payment(
            buyer=reader, bundle_id=bundle.pk, amount_cents=2500, checkout_token=uuid.uuid4()
        )
        for _ in range(2)
    ]
    refs = [cart_payments.start_payment(p).reference for p in payments]

    at_once(
        *(
            lambda p=p, r=r: cart_payments.mark_payment_paid(
                payment_id=p.pk, amount_cents=2500, reference=r
            )
            for p, r in zip(payments, refs, strict=True)
        )
    )

    for book in books:
        assert Order.objects.charged_for(reader, book).count() == 1
        assert LedgerTransaction.objects.filter(order__book=book, kind="sale").count() == 1
    assert Order.objects.filter(status="refunded").count() == 2  # the other tab's, in full
    assert audit().ok, audit().problems


# Bundles in the cart --------------------------------------------------------------------


def add_bundle(client, bundle, amount):
    return client.get(reverse("payments:bundle_cart_add", args=[bundle.slug]), {"amount": amount})


def pay_cart(client, card=VISA):
    page = client.get(reverse("payments:cart"))
    form = {
        "checkout_token": str(page.context["checkout_token"]),
        "version": page.context["contents"].version,
    }
    return client.post(
        reverse("payments:cart_checkout"),
        {**form, "card_number": card, "expiry": "12/34", "cvc": "123"},
    )


def test_a_bundle_and_a_book_in_the_cart_are_one_payment(client, trio):
    bundle = trio[0]
    other = BookFactory(title="Other", minimum_price_cents=500)
    reader = UserFactory()
    client.force_login(reader)
    assert add_bundle(client, bundle, "25")["Location"] == reverse("payments:cart")
    client.get(reverse("payments:cart_add", args=[other.slug]), {"amount": "7.00"})
    page = client.get(reverse("payments:cart"))
    html = page.content.decode()
    assert page.context["contents"].total_cents == 3200
    assert "Bundle: " in html and "1 book and 1 bundle" in html

    response = pay_cart(client)

    assert response["Location"] == reverse("library:index")
    payment = Payment.objects.get()
    assert (payment.status, payment.amount_cents) == ("paid", 3200)
    bundle_orders = payment.orders.filter(bundle=bundle)
    assert sum(bundle_orders.values_list("amount_cents", flat=True)) == 2500
    assert len(set(bundle_orders.values_list("bundle_sale", flat=True))) == 1
    assert payment.orders.get(book=other).bundle_sale is None
    assert Entitlement.objects.active().filter(user=reader).count() == 4
    assert not client.get(reverse("payments:cart")).context["contents"].bundle_lines
    assert audit().ok, audit().problems


def test_a_bundle_whose_book_was_retired_in_the_cart_is_named_and_nothing_charged(client, trio):
    bundle, solo, *_ = trio
    client.force_login(UserFactory())
    add_bundle(client, bundle, "25")
    solo.status = "retired"
    solo.save()
    page = client.get(reverse("payments:cart"))
    assert "No longer for sale (“Solo” is not for sale.)" in page.content.decode()
    assert not page.context["contents"].payable
    response = pay_cart(client)
    assert response.status_code == 400
    assert "nothing was charged" in response.content.decode()
    assert not Payment.objects.exists() and not Order.objects.exists()


def test_a_bundle_line_below_its_minimum_is_refused(client, trio):
    bundle = trio[0]
    client.force_login(UserFactory())
    response = add_bundle(client, bundle, "19.99")
    assert response["Location"] == bundle.get_absolute_url()
    assert not client.get(reverse("payments:cart")).context["contents"].bundle_lines


def test_an_anonymous_visitors_bundle_line_survives_logging_in(client, trio):
    bundle = trio[0]
    add_bundle(client, bundle, "30")
    reader = UserFactory()
    client.force_login(reader)
    lines = client.get(reverse("payments:cart")).context["contents"].bundle_lines
    assert [(line.bundle, line.amount_cents) for line in lines] == [(bundle, 3000)]
