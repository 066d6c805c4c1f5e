import pytest
from playwright.sync_api import expect

from payments import credits
from payments.ledger import audit
from payments.models import Order
from tests.e2e.helpers import DEMO_BOOK, pay_with
from tests.e2e.test_purchase import sign_up_on_the_way

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_new_reader_buys_a_pack_then_the_demo_book_with_a_credit(
    live_server, page, mailoutbox, demo_catalog
):
    page.goto(live_server.url + DEMO_BOOK)
    page.get_by_role("link", name="buy them here").click()
    sign_up_on_the_way(page, mailoutbox, "credit.reader@example.com")

    expect(page.get_by_role("heading", name="Your credits")).to_be_visible()
    expect(page.get_by_test_id("credit-balance")).to_have_text("0 credits")
    page.get_by_test_id("pack-3").click()
    pay_with(page, "4242 4242 4242 4242")
    expect(page.get_by_test_id("credit-balance")).to_have_text("3 credits")

    page.goto(live_server.url + DEMO_BOOK)
    expect(page.get_by_test_id("credits-note")).to_contain_text("You have 3 credits.")
    page.get_by_role("button", name="Buy with 1 credit").click()

    expect(page.get_by_role("heading", name="Your library")).to_be_visible()
    expect(page.locator(".library-list")).to_contain_text(
        "BehindTheStack: The Evolution of Netflix's Architecture"
    )
    page.goto(live_server.url + "/credits/")
    expect(page.get_by_test_id("credit-balance")).to_have_text("2 credits")
    expect(page.get_by_test_id("credit-history")).to_contain_text("Spent on a book")

    order = Order.objects.get(buyer__email="credit.reader@example.com", product="book")
    assert order.paid_with_credit and order.is_paid
    assert credits.balance(order.buyer) == 2
    assert audit().ok
