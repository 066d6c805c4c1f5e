import re

import pytest
from playwright.sync_api import expect

from library.models import Entitlement
from payments.models import Order
from tests.e2e.helpers import DEMO_BOOK, log_in, pay_with, slide_to

pytestmark = pytest.mark.django_db(transaction=True)


def sign_up_on_the_way(page, mailoutbox, email):
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill("a long enough passphrase")
    page.get_by_label("Password (again)").fill("a long enough passphrase")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Verify your e-mail address")).to_be_visible()
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mailoutbox[-1].body)[0]
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()


def test_a_new_reader_chooses_a_price_signs_up_pays_and_finds_the_book(
    live_server, page, mailoutbox, demo_catalog
):
    page.goto(live_server.url + DEMO_BOOK)
    slide_to(page, "19.50")
    expect(page.locator("[data-author-earns]")).to_have_text("$15.60")
    page.get_by_role("button", name="Buy now").click()

    sign_up_on_the_way(page, mailoutbox, "new.reader@example.com")

    # Back at checkout with the chosen amount kept.
    expect(page.get_by_test_id("amount")).to_have_text("$19.50")
    expect(page.get_by_test_id("author-earns")).to_have_text("$15.60")
    page.get_by_role("button", name="Pay $19.50").click()
    pay_with(page, "4242 4242 4242 4242")

    expect(page.get_by_role("heading", name="Your library")).to_be_visible()
    expect(page.locator(".library-list")).to_contain_text(
        "BehindTheStack: The Evolution of Netflix's Architecture"
    )
    order = Order.objects.get(buyer__email="new.reader@example.com")
    assert (order.status, order.amount_cents) == ("paid", 1950)

    page.goto(live_server.url + order.get_absolute_url())
    expect(page.get_by_test_id("amount")).to_have_text("$19.50")
    expect(page.get_by_test_id("author-earns")).to_have_text("$15.60")
    receipt = next(m for m in mailoutbox if m.subject.startswith("Your receipt"))
    assert "$19.50" in receipt.body and "$15.60" in receipt.body


def test_a_declined_card_pays_nothing_and_try_again_is_one_click_to_paying(
    live_server, page, mailoutbox, demo_catalog
):
    log_in(page, live_server.url, "reader@example.com")
    page.goto(live_server.url + DEMO_BOOK)
    page.get_by_role("button", name="Buy now").click()
    page.get_by_role("button", name="Pay $24.99").click()

    pay_with(page, "4000 0000 0000 0002")

    expect(page.get_by_role("alert")).to_have_text("Your card was declined. Try another card.")
    mine = {
        "buyer__email": "reader@example.com",
        "book__slug": "behindthestack-netflix-architecture",
    }
    first = Order.objects.filter(**mine).get()
    assert first.status == "failed"
    assert not Entitlement.objects.filter(
        user__email="reader@example.com", book__slug=mine["book__slug"]
    ).exists()

    # One click from the decline: straight to paying the same amount again.
    page.get_by_role("button", name="Try again").click()
    expect(page.get_by_role("heading", name="Pay $24.99")).to_be_visible()
    pay_with(page, "4000 0000 0000 0002")
    expect(page.get_by_role("alert")).to_have_text("Your card was declined. Try another card.")

    # The orders list shows both attempts as no money taken, and their pages say so.
    page.goto(live_server.url + "/orders/")
    rows = page.get_by_test_id("order-unpaid")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("Declined — nothing charged")
    expect(page.locator("table")).not_to_contain_text("$24.99")
    rows.first.get_by_role("link", name=re.compile("^Try again")).click()
    expect(page.get_by_role("heading", name="Payment declined")).to_be_visible()
    expect(page.get_by_test_id("not-charged")).to_have_text("nothing was charged")
    expect(page.get_by_text("Author earns")).to_have_count(0)
    expect(page.get_by_text("Amount paid")).to_have_count(0)

    # One click from the order page too, and this time the card works.
    page.get_by_role("button", name="Try again").click()
    expect(page.get_by_role("heading", name="Pay $24.99")).to_be_visible()
    pay_with(page, "4242 4242 4242 4242")

    expect(page.get_by_role("heading", name="Your library")).to_be_visible()
    statuses = sorted(Order.objects.filter(**mine).values_list("status", "amount_cents"))
    assert statuses == [("failed", 2499), ("failed", 2499), ("paid", 2499)]
