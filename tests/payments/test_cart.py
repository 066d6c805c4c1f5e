"""The cart: books added at their own amounts, paid in one payment (demo gateway),
each line its own order, sale, receipt line and refund; bad input refused with a
clear message and nothing charged."""

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from core.models import EmailDelivery
from core.reader_pages import forget_reader
from library.models import Entitlement
from payments import cart_payments, services
from payments.gateways.demo import DemoGateway
from payments.ledger import audit
from payments.models import CartLine, LedgerEntry, LedgerTransaction, Order, Payment, Refund
from tests.concurrency import at_once
from tests.conftest import require
from tests.factories import PASSWORD, AuthorFactory, BookFactory, UserFactory
from tests.payments.conftest import VISA

pytestmark = pytest.mark.django_db

CART = reverse("payments:cart")
CHECKOUT = reverse("payments:cart_checkout")


@pytest.fixture
def books():
    """Two books with different rules; the second is co-written 50/50."""
    solo = BookFactory(title="Solo Book", minimum_price_cents=999, suggested_price_cents=1999)
    duo = BookFactory(
        title="Duo Book",
        minimum_price_cents=500,
        suggested_price_cents=2499,
        authors=[AuthorFactory(), AuthorFactory()],
    )
    return solo, duo


@pytest.fixture
def charges(monkeypatch):
    """How many times the demo gateway took money."""
    taken = []
    real = DemoGateway.charge

    def counting(card_number):
        succeeded, message = real(card_number)
        taken.extend([card_number] if succeeded else [])
        return succeeded, message

    monkeypatch.setattr(DemoGateway, "charge", staticmethod(counting))
    return taken


def add(client, book, amount):
    return client.get(reverse("payments:cart_add", args=[book.slug]), {"amount": amount})


def cart_form(client) -> dict:
    """The hidden fields of the cart page's pay form, as the browser would post them."""
    page = client.get(CART)
    assert page.status_code == 200
    return {
        "checkout_token": str(page.context["checkout_token"]),
        "version": page.context["contents"].version,
    }


def pay_cart(client, form=None, card=VISA):
    form = form or cart_form(client)
    return client.post(CHECKOUT, {**form, "card_number": card, "expiry": "12/34", "cvc": "123"})


def test_a_reader_pays_two_books_at_their_own_amounts_in_one_payment(
    client, books, charges, django_capture_on_commit_callbacks
):
    solo, duo = books
    reader = UserFactory()
    client.force_login(reader)

    assert add(client, solo, "12.00")["Location"] == CART
    assert add(client, duo, "24.99")["Location"] == CART
    page = client.get(CART)
    assert [line.amount_cents for line in page.context["contents"].lines] == [1200, 2499]
    html = page.content.decode()
    assert "$36.99" in html and 'data-testid="cart-link"' in html
    assert "$19.99" in html  # what Duo Book's authors earn at $24.99

    with django_capture_on_commit_callbacks(execute=True):
        response = pay_cart(client)

    assert response["Location"] == reverse("library:index")
    assert len(charges) == 1  # one card payment for the whole cart
    payment = Payment.objects.get()
    assert (payment.status, payment.amount_cents) == ("paid", 3699)
    orders = {o.book: o for o in Order.objects.filter(payment=payment)}
    assert {b: (o.amount_cents, o.royalty_cents, o.status) for b, o in orders.items()} == {
        solo: (1200, 960, "paid"),
        duo: (2499, 1999, "paid"),
    }
    # Each line is its own sale, to the cent: Duo's royalty split between its authors.
    duo_sale = LedgerTransaction.objects.get(order=orders[duo], kind="sale")
    author_parts = sorted(
        e.amount_cents for e in duo_sale.entries.all() if e.account == LedgerEntry.Account.AUTHOR
    )
    assert author_parts == [999, 1000]
    assert sum(e.amount_cents for e in duo_sale.entries.all()) == 0
    assert LedgerTransaction.objects.filter(kind="sale").count() == 2
    assert Entitlement.objects.filter(user=reader, revoked_at=None).count() == 2
    # One receipt for the payment, a line each with its own refund; no sign-in link
    # for a signed-in reader.
    receipt = EmailDelivery.objects.get(key__startswith="receipt:")
    assert receipt.key == f"receipt:payment-{payment.pk}" and receipt.to == reader.email
    assert receipt.subject == "Your receipt for 2 books"
    assert "- Solo Book: $12.00 (the author earns $9.60)" in receipt.body
    assert "- Duo Book: $24.99 (the author earns $19.99)" in receipt.body
    assert receipt.body.count("100% refund of this book alone") == 2
    assert "sign-in link" not in receipt.body
    assert audit().ok, audit().problems
    # The cart is empty afterwards, and the header says so.
    assert not CartLine.objects.filter(owner=reader).exists()
    assert 'data-testid="cart-link"' not in client.get(reverse("library:index")).content.decode()


def test_refunding_one_line_refunds_only_that_book(client, books, charges):
    solo, duo = books
    reader = UserFactory()
    client.force_login(reader)
    add(client, solo, "12.00")
    add(client, duo, "24.99")
    pay_cart(client)
    solo_order = Order.objects.get(book=solo)

    response = client.post(reverse("payments:refund", args=[solo_order.public_id]), {"reason": ""})

    assert response.status_code == 302
    solo_order.refresh_from_db()
    assert solo_order.status == "refunded"
    refund = Refund.objects.get()
    assert (refund.order, refund.amount_cents) == (solo_order, 1200)
    assert refund.gateway_refund_id == f"demo_re_order-{solo_order.public_id}-refund"
    assert Order.objects.get(book=duo).status == "paid"
    assert Entitlement.objects.get(user=reader, book=duo).is_active
    assert not Entitlement.objects.get(user=reader, book=solo).is_active
    assert LedgerTransaction.objects.filter(kind="refund").count() == 1
    assert audit().ok, audit().problems


def test_a_double_click_on_pay_charges_once(client, books, charges):
    solo, duo = books
    client.force_login(UserFactory())
    add(client, solo, "12.00")
    add(client, duo, "24.99")
    form = cart_form(client)

    first = pay_cart(client, form)
    second = pay_cart(client, form)  # the same page posted again

    assert first.status_code == 302
    assert second.status_code == 409  # the cart is empty now: nothing to pay
    assert len(charges) == 1
    assert Payment.objects.count() == 1 and Order.objects.count() == 2


def test_replayed_and_reordered_payment_events_book_nothing_twice(books):
    solo, duo = books
    reader = UserFactory()
    lines = [cart_payments.LineChoice(solo, 1200), cart_payments.LineChoice(duo, 2499)]
    payment = cart_payments.place_cart_payment(
        buyer=reader, lines=lines, checkout_token=uuid.uuid4()
    )
    session = cart_payments.start_payment(payment)
    ref = session.reference

    assert not cart_payments.mark_payment_paid(
        payment_id=payment.pk, amount_cents=100, reference=ref
    )  # not the cart's amount: nothing fulfilled
    assert cart_payments.mark_payment_failed(
        payment_id=payment.pk, reason="Declined", reference=ref
    )
    assert set(Order.objects.values_list("status", flat=True)) == {"failed"}
    # The reader tried another card on the same payment: it succeeded after all.
    assert cart_payments.mark_payment_paid(payment_id=payment.pk, amount_cents=3699, reference=ref)
    assert not cart_payments.mark_payment_paid(
        payment_id=payment.pk, amount_cents=3699, reference=ref
    )
    assert not cart_payments.mark_payment_failed(
        payment_id=payment.pk, reason="late", reference=ref
    )
    assert set(Order.objects.values_list("status", flat=True)) == {"paid"}
    assert LedgerTransaction.objects.filter(kind="sale").count() == 2
    assert audit().ok, audit().problems


def test_a_line_bought_meanwhile_in_another_tab_is_refunded_alone(
    books, django_capture_on_commit_callbacks
):
    solo, duo = books
    reader = UserFactory()
    lines = [cart_payments.LineChoice(solo, 1200), cart_payments.LineChoice(duo, 2499)]
    payment = cart_payments.place_cart_payment(
        buyer=reader, lines=lines, checkout_token=uuid.uuid4()
    )
    ref = cart_payments.start_payment(payment).reference
    # Another tab bought Duo Book on its own before this cart's money came in.
    single = services.place_order(
        buyer=reader, book=duo, amount_cents=2000, checkout_token=uuid.uuid4()
    )
    services.start_payment(single)
    services.mark_paid(order_id=single.pk, amount_cents=2000)

    with django_capture_on_commit_callbacks(execute=True):
        assert cart_payments.mark_payment_paid(
            payment_id=payment.pk, amount_cents=3699, reference=ref
        )

    assert Order.objects.get(payment=payment, book=solo).status == "paid"
    duplicate = Order.objects.get(payment=payment, book=duo)
    assert duplicate.status == "refunded"  # refunded in full, automatically, alone
    assert Refund.objects.get(order=duplicate).amount_cents == 2499
    assert Order.objects.charged_for(reader, duo).get() == single
    assert audit().ok, audit().problems


def test_an_anonymous_cart_merges_into_the_account_at_login(client, books):
    solo, duo = books
    reader = UserFactory()
    CartLine.objects.create(owner=reader, book=solo, amount_cents=1500)
    owned = BookFactory(title="Owned")
    Entitlement.objects.create(user=reader, book=owned, granted_at="2026-01-01T00:00Z")

    add(client, solo, "11.00")  # the same book, a newer amount
    add(client, duo, "9.00")
    add(client, owned, "9.99")
    assert client.session["header_count"] == 3

    assert client.login(email=reader.email, password=PASSWORD)

    lines = dict(CartLine.objects.filter(owner=reader).values_list("book__title", "amount_cents"))
    assert lines == {"Solo Book": 1100, "Duo Book": 900}  # one line per book, owned left out
    assert client.session["header_count"] == 2
    assert "cart" not in client.session


def test_an_owned_book_leaves_the_cart_with_a_note(client, books):
    solo, duo = books
    reader = UserFactory()
    client.force_login(reader)
    add(client, solo, "12.00")
    add(client, duo, "24.99")
    Entitlement.objects.create(user=reader, book=duo, granted_at="2026-01-01T00:00Z")

    page = client.get(CART)

    assert [line.book for line in page.context["contents"].lines] == [solo]
    assert "“Duo Book” is in your library already" in page.content.decode()


def test_amounts_below_a_lines_minimum_are_refused(client, books):
    solo, _duo = books
    client.force_login(UserFactory())

    response = add(client, solo, "5.00")
    assert response["Location"] == solo.get_absolute_url()
    assert not CartLine.objects.exists()

    add(client, solo, "12.00")
    response = client.post(
        reverse("payments:cart_update"), {"book": str(solo.pk), "amount": "5.00"}
    )
    assert response.status_code == 400
    assert "The minimum price for this book is $9.99." in response.content.decode()
    assert CartLine.objects.get().amount_cents == 1200

    response = client.post(reverse("payments:cart_update"), {"book": str(solo.pk), "amount": "1e5"})
    assert response.status_code == 400
    assert CartLine.objects.get().amount_cents == 1200


def test_an_author_raising_the_minimum_blocks_the_line_until_changed(client, books, charges):
    solo, _duo = books
    client.force_login(UserFactory())
    add(client, solo, "12.00")
    solo.minimum_price_cents = 1500
    solo.save()

    page = client.get(CART)
    assert "The minimum price for this book is $15.00." in page.content.decode()
    response = pay_cart(client)
    assert response.status_code == 400
    assert not Payment.objects.exists() and not charges


def test_a_retired_book_in_the_cart_is_named_and_nothing_is_charged(client, books, charges):
    solo, duo = books
    client.force_login(UserFactory())
    add(client, solo, "12.00")
    add(client, duo, "24.99")
    form = cart_form(client)
    duo.status = "retired"
    duo.save()

    response = pay_cart(client, form)

    assert response.status_code == 400
    assert "No longer for sale" in response.content.decode()
    assert not Payment.objects.exists() and not Order.objects.exists() and not charges


def test_a_stale_cart_page_from_another_tab_is_refused(client, books, charges):
    solo, duo = books
    client.force_login(UserFactory())
    add(client, solo, "12.00")
    form = cart_form(client)  # tab 1 shows one book at $12
    add(client, duo, "24.99")  # tab 2 adds another

    response = pay_cart(client, form)

    assert response.status_code == 409
    assert "Your cart changed since this page was shown" in response.content.decode()
    assert not Payment.objects.exists() and not charges
    assert pay_cart(client).status_code == 302  # the fresh page pays both
    assert Payment.objects.get().amount_cents == 3699


def test_a_tampered_line_id_changes_nothing(client, books):
    solo, duo = books
    owner = UserFactory()
    CartLine.objects.create(owner=owner, book=duo, amount_cents=2499)
    client.force_login(UserFactory())
    add(client, solo, "12.00")

    for value in (str(duo.pk), "abc", "-1", "99999999999999999999"):
        response = client.post(reverse("payments:cart_update"), {"book": value, "amount": "30"})
        assert response.status_code == 400, value
    client.post(reverse("payments:cart_update"), {"book": str(duo.pk), "remove": "1"})
    assert CartLine.objects.get(owner=owner).amount_cents == 2499


def test_a_declined_card_charges_nothing_and_the_same_page_can_pay_again(client, books, charges):
    solo, _duo = books
    client.force_login(UserFactory())
    add(client, solo, "12.00")
    form = cart_form(client)

    declined = pay_cart(client, form, card="4000 0000 0000 0002")
    assert declined.status_code == 402
    assert Order.objects.get().status == "failed"
    again = pay_cart(client, {**form, "checkout_token": str(declined.context["checkout_token"])})

    assert again.status_code == 302
    assert Payment.objects.get().status == "paid" and Order.objects.get().status == "paid"
    assert len(charges) == 1


def test_the_cart_page_costs_the_same_queries_for_one_or_many_lines(
    client, django_assert_max_num_queries
):
    client.force_login(UserFactory())
    add(client, BookFactory(), "20")
    with CaptureQueriesContext(connection) as one:
        client.get(CART)
    one_line = len(one.captured_queries)  # now: the next request resets the log
    assert 0 < one_line <= 8
    for _ in range(5):
        add(client, BookFactory(), "20")
    with django_assert_max_num_queries(one_line):
        page = client.get(CART)
    assert len(page.context["contents"].lines) == 6


def test_anonymous_pages_with_a_cart_are_not_served_from_the_page_cache(books):
    solo, _duo = books
    visitor, stranger = Client(), Client()
    stranger.get(solo.get_absolute_url())  # cached for every anonymous visitor

    add(visitor, solo, "12.00")
    html = visitor.get(solo.get_absolute_url()).content.decode()

    assert 'data-testid="cart-link"' in html
    assert 'data-testid="cart-link"' not in stranger.get(solo.get_absolute_url()).content.decode()


@pytest.mark.django_db(transaction=True)
def test_two_tabs_paying_the_same_cart_at_once_charge_once_on_postgresql(books, charges):
    """Two tabs of one cart page post at the same instant (a double click the browser
    sent twice): one payment, each line sold once."""
    require(connection.vendor == "postgresql", "concurrent inserts need PostgreSQL")
    solo, duo = books
    reader = UserFactory()
    tabs = [Client(), Client()]
    for tab in tabs:
        tab.force_login(reader)
    add(tabs[0], solo, "12.00")
    add(tabs[0], duo, "24.99")
    form = cart_form(tabs[0])

    responses = at_once(*(lambda tab=tab: pay_cart(tab, form) for tab in tabs))

    assert all(r.status_code < 500 for r in responses), [r.status_code for r in responses]
    assert Payment.objects.count() == 1 and Order.objects.count() == 2
    assert LedgerTransaction.objects.filter(kind="sale").count() == 2
    assert len(charges) <= 2  # the demo "card" may be asked twice; the money is booked once
    assert audit().ok, audit().problems


@pytest.mark.django_db(transaction=True)
def test_a_cart_webhook_and_a_replay_at_once_fulfil_once_on_postgresql(books):
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    solo, duo = books
    reader = UserFactory()
    lines = [cart_payments.LineChoice(solo, 1200), cart_payments.LineChoice(duo, 2499)]
    payment = cart_payments.place_cart_payment(
        buyer=reader, lines=lines, checkout_token=uuid.uuid4()
    )
    ref = cart_payments.start_payment(payment).reference

    def paid():
        return cart_payments.mark_payment_paid(
            payment_id=payment.pk, amount_cents=3699, reference=ref
        )

    assert sorted(at_once(paid, paid)) == [False, True]
    assert LedgerTransaction.objects.filter(kind="sale").count() == 2
    assert EmailDelivery.objects.filter(key=f"receipt:payment-{payment.pk}").count() == 1
    assert audit().ok, audit().problems


def test_the_header_count_costs_no_query(client, books):
    solo, duo = books
    reader = UserFactory()
    client.force_login(reader)
    client.get(reverse("payments:orders"))  # the first request after login fills caches
    forget_reader(reader.pk)  # both measured pages rendered, not served from the cache
    with CaptureQueriesContext(connection) as empty:
        client.get(reverse("payments:orders"))
    without_cart = len(empty.captured_queries)
    add(client, solo, "12.00")
    add(client, duo, "24.99")
    forget_reader(reader.pk)

    with CaptureQueriesContext(connection) as full:
        html = client.get(reverse("payments:orders")).content.decode()

    assert 'data-testid="cart-link"' in html and ">2<" in html
    assert len(full.captured_queries) == without_cart


def test_the_book_page_offers_add_to_cart_in_the_shared_cached_page(client, books):
    solo, _duo = books
    html = client.get(solo.get_absolute_url()).content.decode()
    assert 'data-testid="add-to-cart"' in html
    assert f'formaction="{reverse("payments:cart_add", args=[solo.slug])}"' in html
    assert 'formmethod="post"' not in html
    assert "csrfmiddlewaretoken" not in html  # still one page for every anonymous visitor
