"""A coupon link in a browser: the lower minimum, what the author earns, the sale booked."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from catalog.models import Book
from core.money import format_cents, format_plain
from payments.models import Coupon, CouponRedemption, Order
from payments.royalties import royalty_for
from tests.e2e.helpers import DEMO_BOOK, log_in, pay_with, slide_to

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_coupon_link_at_half_price_books_the_sale_at_that_price(
    live_server, page, mailoutbox, demo_catalog
):
    book = Book.objects.get(slug=DEMO_BOOK.strip("/").split("/")[-1])
    Coupon.objects.create(
        book=book,
        code="HALF",
        kind="percent",
        value=50,
        starts_at=timezone.now() - timedelta(hours=1),
        max_uses=10,
    )
    half = book.minimum_price_cents - book.minimum_price_cents * 50 // 100

    log_in(page, live_server.url, "reader@example.com")
    page.goto(live_server.url + DEMO_BOOK + "?coupon=half")
    expect(page.get_by_test_id("coupon-note")).to_contain_text("HALF")
    expect(page.get_by_test_id("minimum-price")).to_have_text(format_cents(half))
    slide_to(page, format_plain(half))
    expect(page.locator("[data-author-earns]")).to_have_text(format_cents(royalty_for(half)))
    page.get_by_role("button", name="Buy now").click()

    expect(page.get_by_test_id("coupon")).to_contain_text("HALF")
    expect(page.get_by_test_id("amount")).to_have_text(format_cents(half))
    expect(page.get_by_test_id("author-earns")).to_have_text(format_cents(royalty_for(half)))
    page.get_by_role("button", name=f"Pay {format_cents(half)}").click()
    pay_with(page, "4242 4242 4242 4242")

    expect(page.get_by_role("heading", name="Your library")).to_be_visible()
    order = Order.objects.get(buyer__email="reader@example.com", book=book, status="paid")
    assert (order.amount_cents, order.royalty_cents) == (half, royalty_for(half))
    assert CouponRedemption.objects.get().order == order
