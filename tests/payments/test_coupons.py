"""Coupon codes: an author's promotion, as readers and authors meet it."""

import csv
import io
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from catalog import bundles
from core.money import is_valid_price
from library.services import owns
from payments import bundle_purchases, cart_payments, coupons, services
from payments.ledger import audit
from payments.models import Coupon, CouponRedemption, LedgerEntry, Order
from payments.pricing import PriceRange, price_range
from payments.royalties import royalty_for
from tests.concurrency import at_once
from tests.conftest import require
from tests.factories import BookFactory, UserFactory, listed_bundle
from tests.payments.conftest import VISA, card

pytestmark = pytest.mark.django_db


def make_coupon(book, code="HALF", kind="percent", value=50, **fields):
    fields.setdefault("starts_at", timezone.now() - timedelta(days=1))
    return Coupon.objects.create(book=book, code=code, kind=kind, value=value, **fields)


def buy(reader, book, amount_cents, coupon, card_number=VISA):
    order = services.place_order(
        buyer=reader,
        book=book,
        amount_cents=amount_cents,
        checkout_token=uuid.uuid4(),
        coupon=coupon,
    )
    session = services.start_payment(order)
    return order, services.pay_with_test_card(
        order, card_number=card_number, reference=session.reference
    )


@pytest.fixture
def book():
    return BookFactory(slug="the-book", minimum_price_cents=2000, suggested_price_cents=3000)


# The price range under a coupon --------------------------------------------------


def test_a_percentage_halves_the_minimum_and_the_suggested_price(book):
    bounds = coupons.coupon_range(price_range(book), make_coupon(book))
    assert (bounds.minimum, bounds.suggested) == (1000, 1500)
    assert bounds.maximum == price_range(book).maximum


def test_an_amount_off_and_a_fixed_price(book):
    off = coupons.coupon_range(price_range(book), make_coupon(book, "FIVE", "amount", 500))
    fixed = coupons.coupon_range(price_range(book), make_coupon(book, "FREE", "fixed", 0))
    assert (off.minimum, off.suggested) == (1500, 2500)
    assert (fixed.minimum, fixed.suggested) == (0, 0)


def test_a_price_in_the_invalid_band_rounds_up_to_99_cents():
    cheap = BookFactory(minimum_price_cents=199, suggested_price_cents=199)
    bounds = coupons.coupon_range(price_range(cheap), make_coupon(cheap, value=90))
    assert bounds.minimum == 99  # 20¢ is not a price: up to 99¢, never down to free


@given(
    minimum=st.integers(0, 50_000),
    extra=st.integers(0, 50_000),
    kind=st.sampled_from(["percent", "amount", "fixed"]),
    value=st.integers(0, 60_000),
)
def test_a_coupon_never_makes_a_price_the_royalty_rule_refuses(minimum, extra, kind, value):
    if kind == "percent":
        value = max(1, min(value, 100))
    bounds = PriceRange(minimum=minimum, suggested=minimum + extra, maximum=minimum + extra + 1)
    coupon = Coupon(kind=kind, value=value)
    if not (is_valid_price(minimum) and is_valid_price(minimum + extra)):
        return  # not a valid book minimum or suggested price to begin with
    got = coupons.coupon_range(bounds, coupon)
    for cents in (got.minimum, got.suggested):
        assert cents == 0 or cents >= 99
        royalty_for(cents)  # raises on an invalid price
    assert got.minimum <= bounds.minimum and got.suggested <= bounds.suggested


@pytest.mark.parametrize(
    ("typed", "stored"),
    [("half", "HALF"), ("  Half ", "HALF"), ("a b", ""), ("<script>", ""), ("x" * 40, "")],
)
def test_codes_are_case_insensitive_and_odd_characters_refused(typed, stored):
    assert coupons.normalised(typed) == stored


# When a coupon may be used --------------------------------------------------------


def test_a_coupon_not_started_yet_or_expired_is_refused(book):
    make_coupon(book, "SOON", starts_at=timezone.now() + timedelta(days=2))
    make_coupon(book, "OLD", ends_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(coupons.CouponError, match="starts on"):
        coupons.find("soon", book=book)
    with pytest.raises(coupons.CouponError, match="expired"):
        coupons.find("old", book=book)


def test_a_coupon_for_another_book_is_refused(book):
    other = BookFactory()
    coupon = make_coupon(other)
    with pytest.raises(coupons.CouponError, match="no coupon HALF for this book"):
        coupons.find("HALF", book=book)
    with pytest.raises(services.CheckoutError, match="not for this book"):
        services.place_order(
            buyer=UserFactory(),
            book=book,
            amount_cents=1000,
            checkout_token=uuid.uuid4(),
            coupon=coupon,
        )
    assert not Order.objects.exists()


def test_the_coupon_price_is_paid_and_the_royalty_is_on_the_price_paid(book):
    reader = UserFactory()
    order, (succeeded, _) = buy(reader, book, 1000, make_coupon(book))
    order.refresh_from_db()
    assert succeeded and order.status == "paid"
    assert order.royalty_cents == royalty_for(1000) == 800
    assert owns(reader, book)
    redemption = CouponRedemption.objects.get()
    assert (redemption.reader, redemption.amount_cents, redemption.over_limit) == (
        reader,
        1000,
        False,
    )
    assert Coupon.objects.get().uses == 1
    assert audit().ok


def test_below_the_coupon_minimum_is_refused(book):
    with pytest.raises(services.CheckoutError, match=r"minimum price for this book is \$10.00"):
        buy(UserFactory(), book, 999, make_coupon(book))


def test_redemption_is_counted_when_paid_not_when_placed(book):
    coupon = make_coupon(book, max_uses=1)
    order = services.place_order(
        buyer=UserFactory(),
        book=book,
        amount_cents=1000,
        checkout_token=uuid.uuid4(),
        coupon=coupon,
    )
    services.start_payment(order)
    order.refresh_from_db()
    services.pay_with_test_card(
        order, card_number="4000 0000 0000 0002", reference=order.gateway_reference
    )
    coupon.refresh_from_db()
    assert coupon.uses == 0 and not CouponRedemption.objects.exists()
    _, (succeeded, _) = buy(UserFactory(), book, 1000, coupon)  # the one use is still there
    assert succeeded


def test_a_used_up_coupon_refuses_the_next_reader_before_charging(book):
    coupon = make_coupon(book, max_uses=1)
    first = services.place_order(
        buyer=UserFactory(),
        book=book,
        amount_cents=1000,
        checkout_token=uuid.uuid4(),
        coupon=coupon,
    )
    second = services.place_order(
        buyer=UserFactory(),
        book=book,
        amount_cents=1000,
        checkout_token=uuid.uuid4(),
        coupon=coupon,
    )
    for order in (first, second):
        services.start_payment(order)
        order.refresh_from_db()
    assert services.pay_with_test_card(first, card_number=VISA, reference=first.gateway_reference)[
        0
    ]
    succeeded, message = services.pay_with_test_card(
        second, card_number=VISA, reference=second.gateway_reference
    )
    second.refresh_from_db()
    assert not succeeded and "used up" in message and "Nothing was charged" in message
    assert second.status == "failed"
    assert LedgerEntry.objects.filter(transaction__order=second).count() == 0
    with pytest.raises(services.CheckoutError, match="used up"):  # a new page: refused at once
        buy(UserFactory(), book, 1000, Coupon.objects.get())


def test_one_use_per_reader(book):
    reader = UserFactory()
    coupon = make_coupon(book)
    buy(reader, book, 1000, coupon)
    other = BookFactory()
    other_coupon = make_coupon(other)
    buy(reader, other, 1000, other_coupon)  # another book's coupon: its own use
    assert CouponRedemption.objects.filter(reader=reader).count() == 2
    assert coupons.reader_problem(coupon, reader) == "You have used the coupon HALF already."


def test_a_webhook_after_the_coupon_ran_out_is_honoured_and_marked(book):
    """Stripe captured the money already: the reader was shown that price."""
    coupon = make_coupon(book, max_uses=1)
    orders = [
        services.place_order(
            buyer=UserFactory(),
            book=book,
            amount_cents=1000,
            checkout_token=uuid.uuid4(),
            coupon=coupon,
        )
        for _ in range(2)
    ]
    for order in orders:  # two webhooks: nothing to refuse any more
        assert services.mark_paid(order_id=order.pk, amount_cents=1000)
    assert services.mark_paid(order_id=orders[1].pk, amount_cents=1000) is False  # a replay
    assert [r.over_limit for r in CouponRedemption.objects.order_by("pk")] == [False, True]
    assert Coupon.objects.get().uses == 2
    assert audit().ok


def test_a_free_coupon_gives_the_book_at_once_and_counts_a_use(book):
    coupon = make_coupon(book, "GIFT", "fixed", 0, max_uses=1)
    reader = UserFactory()
    order = services.place_order(
        buyer=reader, book=book, amount_cents=0, checkout_token=uuid.uuid4(), coupon=coupon
    )
    assert order.status == "paid" and owns(reader, book)
    with pytest.raises(services.CheckoutError, match="used up"):
        services.place_order(
            buyer=UserFactory(),
            book=book,
            amount_cents=0,
            checkout_token=uuid.uuid4(),
            coupon=coupon,
        )


def test_the_last_use_goes_to_exactly_one_of_two_simultaneous_buyers(transactional_db):
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    book = BookFactory(minimum_price_cents=2000, suggested_price_cents=3000)
    coupon = make_coupon(book, max_uses=1)
    orders = []
    for _ in range(2):
        order = services.place_order(
            buyer=UserFactory(),
            book=book,
            amount_cents=1000,
            checkout_token=uuid.uuid4(),
            coupon=coupon,
        )
        services.start_payment(order)
        order.refresh_from_db()
        orders.append(Order.objects.select_related("buyer").get(pk=order.pk))

    results = at_once(
        *(
            lambda o=o: services.pay_with_test_card(
                o, card_number=VISA, reference=o.gateway_reference
            )[0]
            for o in orders
        )
    )

    assert sorted(results) == [False, True]
    assert sorted(Order.objects.values_list("status", flat=True)) == ["failed", "paid"]
    assert CouponRedemption.objects.count() == 1
    assert Coupon.objects.get().uses == 1
    assert audit().ok


# Pages ---------------------------------------------------------------------------


def test_a_coupon_link_shows_the_lower_minimum_and_what_the_author_earns(client, book):
    make_coupon(book)
    html = client.get(f"/books/{book.slug}/?coupon=half").content.decode()
    assert 'data-testid="minimum-price">$10.00<' in html
    assert 'data-testid="coupon-note"' in html and "50% off" in html
    assert 'name="coupon" value="HALF"' in html
    assert "$12.00" in html  # the author earns 80% of the coupon's suggested $15.00


def test_a_coupon_page_is_never_cached_for_visitors_without_it_and_vice_versa(client, book):
    make_coupon(book)
    plain = client.get(f"/books/{book.slug}/")
    coupon_page = client.get(f"/books/{book.slug}/?coupon=HALF")
    plain_again = client.get(f"/books/{book.slug}/")
    assert "X-Page-Cache" not in coupon_page
    assert 'data-testid="minimum-price">$20.00<' in plain_again.content.decode()
    assert plain_again["X-Page-Cache"] == "hit" and plain["X-Page-Cache"] == "miss"
    assert 'id="coupon-code" name="coupon"' in plain.content.decode()  # type a code: a GET
    assert 'data-testid="minimum-price">$10.00<' in coupon_page.content.decode()


@pytest.mark.parametrize(
    ("code", "message"),
    [("NOPE", "There is no coupon NOPE"), ("<b>x</b>", "That is not a coupon code")],
)
def test_unknown_or_odd_codes_show_a_clear_message_on_the_book_page(client, book, code, message):
    response = client.get(f"/books/{book.slug}/", {"coupon": code})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert "<b>x</b>" not in response.content.decode()


def test_checkout_with_a_coupon_books_the_sale_at_that_price(client, book):
    reader = UserFactory()
    client.force_login(reader)
    make_coupon(book)
    summary = client.get(
        reverse("payments:checkout", args=[book.slug]), {"amount": "10", "coupon": "half"}
    )
    html = summary.content.decode()
    assert 'data-testid="amount">$10.00<' in html and 'data-testid="author-earns">$8.00<' in html
    placed = client.post(
        reverse("payments:pay", args=[book.slug]),
        {"amount": "10", "coupon": "HALF", "checkout_token": str(uuid.uuid4())},
    )
    order = Order.objects.get()
    assert placed.status_code == 302 and order.coupon.code == "HALF"
    card(client, order, VISA)
    order.refresh_from_db()
    assert order.status == "paid" and order.amount_cents == 1000
    page = client.get(order.get_absolute_url()).content.decode()
    assert 'data-testid="order-coupon">HALF<' in page


def test_checkout_with_an_expired_coupon_says_so_and_charges_nothing(client, book):
    client.force_login(UserFactory())
    make_coupon(book, ends_at=timezone.now() - timedelta(minutes=1))
    response = client.post(
        reverse("payments:pay", args=[book.slug]),
        {"amount": "10", "coupon": "HALF", "checkout_token": str(uuid.uuid4())},
    )
    assert response.status_code == 400
    assert "has expired" in response.content.decode()
    assert not Order.objects.exists()


def test_the_author_creates_a_coupon_and_sees_its_uses_and_revenue(client, book):
    author_user = book.authorships.get().author.user
    client.force_login(author_user)
    url = reverse("payments:book_coupons", args=[book.slug])
    response = client.post(
        url,
        {
            "code": "launch",
            "kind": "percent",
            "percent": "50",
            "max_uses": "10",
            "one_per_reader": "on",
        },
    )
    assert response.status_code == 302
    coupon = Coupon.objects.get()
    assert (coupon.code, coupon.value, coupon.max_uses, coupon.book) == ("LAUNCH", 50, 10, book)
    buy(UserFactory(), book, 1200, coupon)
    page = client.get(url).content.decode()
    assert 'data-testid="uses">1 of 10' in page and 'data-testid="revenue">$12.00<' in page
    duplicate = client.post(url, {"code": "Launch", "kind": "amount", "amount": "5"})
    assert (
        duplicate.status_code == 400
        and "There is a coupon LAUNCH already" in duplicate.content.decode()
    )
    bad_band = client.post(url, {"code": "CHEAP", "kind": "fixed", "amount": "0.50"})
    assert bad_band.status_code == 400 and "Pay $0 or at least $0.99" in bad_band.content.decode()


def test_another_author_cannot_see_or_create_coupons(client, book):
    client.force_login(UserFactory())
    assert client.get(reverse("payments:book_coupons", args=[book.slug])).status_code == 403
    assert (
        client.post(
            reverse("payments:book_coupons", args=[book.slug]),
            {"code": "X1X", "kind": "percent", "percent": "99"},
        ).status_code
        == 403
    )
    assert not Coupon.objects.exists()


def test_the_earnings_csv_has_a_coupon_column(client, book):
    author_user = book.authorships.get().author.user
    buy(UserFactory(), book, 1000, make_coupon(book))
    client.force_login(author_user)
    body = b"".join(client.get(reverse("payments:earnings_csv")).streaming_content).decode()
    rows = list(csv.reader(io.StringIO(body)))
    column = rows[0].index("coupon")
    assert rows[1][column] == "HALF"
    assert "HALF" in client.get(reverse("payments:earnings")).content.decode()


def test_the_coupon_list_keeps_a_flat_number_of_queries(
    client, book, django_assert_max_num_queries
):
    client.force_login(book.authorships.get().author.user)
    for n in range(5):
        buy(UserFactory(), book, 1000, make_coupon(book, f"CODE{n}"))
    with django_assert_max_num_queries(12):
        client.get(reverse("payments:book_coupons", args=[book.slug]))


# Bundles and carts ---------------------------------------------------------------


@pytest.fixture
def bundle():
    books = [
        BookFactory(minimum_price_cents=999, suggested_price_cents=1999),
        BookFactory(minimum_price_cents=999, suggested_price_cents=999),
    ]
    return listed_bundle(books, minimum_cents=2000, suggested_cents=2500)


def bundle_coupon(bundle, code="HALF", kind="percent", value=50, **fields):
    fields.setdefault("starts_at", timezone.now() - timedelta(days=1))
    return Coupon.objects.create(bundle=bundle, code=code, kind=kind, value=value, **fields)


def pay_bundle(reader, bundle, amount_cents, coupon):
    payment = bundle_purchases.place_bundle_payment(
        buyer=reader,
        bundle_id=bundle.pk,
        amount_cents=amount_cents,
        checkout_token=uuid.uuid4(),
        coupon=coupon,
    )
    session = cart_payments.start_payment(payment)
    payment.refresh_from_db()
    return payment, cart_payments.pay_with_test_card(
        payment, card_number=VISA, reference=session.reference
    )


def test_a_bundle_coupon_is_one_use_per_sale_and_splits_like_any_bundle_sale(bundle):
    coupon = bundle_coupon(bundle, max_uses=1)
    reader = UserFactory()
    payment, (succeeded, _) = pay_bundle(reader, bundle, 1000, coupon)
    assert succeeded
    orders = list(payment.orders.all())
    assert len(orders) == 2 and all(o.coupon_id == coupon.pk for o in orders)
    assert sum(o.amount_cents for o in orders) == 1000
    assert all(
        o.amount_cents >= 99 and o.royalty_cents == royalty_for(o.amount_cents) for o in orders
    )
    redemption = CouponRedemption.objects.get()
    assert redemption.amount_cents == 1000
    assert Coupon.objects.get().uses == 1
    assert audit().ok
    with pytest.raises(services.CheckoutError, match="used up"):
        pay_bundle(UserFactory(), bundle, 1000, Coupon.objects.get())


def test_a_free_bundle_coupon_still_leaves_every_book_99_cents(bundle):
    coupon = bundle_coupon(bundle, "FREE", "fixed", 0)
    offer = bundle_purchases.offer_for(
        bundles.with_books(type(bundle).objects.filter(pk=bundle.pk)).get(), UserFactory(), coupon
    )
    assert offer.bounds.minimum == bundles.lowest_minimum(offer.weights)
    assert all(part.price_cents >= 99 for part in offer.parts(offer.bounds.minimum))


def test_a_book_coupon_is_refused_for_a_bundle_and_the_other_way_round(book, bundle):
    with pytest.raises(services.CheckoutError, match="not for this bundle"):
        pay_bundle(UserFactory(), bundle, 2000, make_coupon(book))
    with pytest.raises(coupons.CouponError, match="no coupon HALF for this bundle"):
        coupons.find("HALF", bundle=bundle)


def test_the_bundle_page_takes_a_coupon_link(client, bundle):
    bundle_coupon(bundle)
    html = client.get(reverse("payments:bundle", args=[bundle.slug]), {"coupon": "half"})
    assert 'data-testid="minimum-price">$10.00<' in html.content.decode()
    assert 'name="coupon" value="HALF"' in html.content.decode()


def test_a_coupon_line_in_a_cart_is_paid_with_the_others_at_its_price(client, book):
    reader = UserFactory()
    client.force_login(reader)
    other = BookFactory(minimum_price_cents=500, suggested_price_cents=800)
    make_coupon(book)
    client.get(reverse("payments:cart_add", args=[book.slug]), {"amount": "10", "coupon": "Half"})
    client.get(reverse("payments:cart_add", args=[other.slug]), {"amount": "5"})
    page = client.get(reverse("payments:cart"))
    html = page.content.decode()
    assert 'data-testid="line-coupon">HALF<' in html
    contents = page.context["contents"]
    response = client.post(
        reverse("payments:cart_checkout"),
        {
            "checkout_token": str(uuid.uuid4()),
            "version": contents.version,
            "card_number": VISA,
            "expiry": "12/34",
            "cvc": "123",
        },
    )
    assert response.status_code == 302
    orders = {o.book_id: o for o in Order.objects.filter(status="paid")}
    assert orders[book.pk].amount_cents == 1000 and orders[book.pk].coupon.code == "HALF"
    assert orders[other.pk].coupon is None
    assert CouponRedemption.objects.get().order == orders[book.pk]
    assert audit().ok


def test_a_cart_line_whose_coupon_ran_out_goes_back_to_its_own_price(client, book):
    client.force_login(UserFactory())
    coupon = make_coupon(book, max_uses=1)
    client.get(reverse("payments:cart_add", args=[book.slug]), {"amount": "10", "coupon": "HALF"})
    buy(UserFactory(), book, 1000, coupon)  # someone else took the last use
    page = client.get(reverse("payments:cart"))
    contents = page.context["contents"]
    assert contents.lines[0].coupon is None and not contents.payable
    assert "The minimum price for this book is $20.00." in contents.lines[0].error


def test_the_payment_page_refuses_a_coupon_that_ran_out_since_the_checkout(client, book):
    reader = UserFactory()
    client.force_login(reader)
    coupon = make_coupon(book, max_uses=1)
    client.post(
        reverse("payments:pay", args=[book.slug]),
        {"amount": "10", "coupon": "HALF", "checkout_token": str(uuid.uuid4())},
    )
    order = Order.objects.get(buyer=reader)
    buy(UserFactory(), book, 1000, coupon)  # the last use, in the meantime

    response = card(client, order, VISA)

    order.refresh_from_db()
    assert response.status_code == 302 and order.status == "failed"
    assert "used up" in order.failure_reason
    assert not owns(reader, book)
