"""A new visitor fills a cart with two books at different amounts, pays on the cart
page with an e-mail address and the demo card, signs in from the e-mailed link,
finds both books, refunds one and keeps the other."""

import re

import pytest
from playwright.sync_api import expect

from payments.models import Order
from tests.e2e.helpers import slide_to
from tests.ebook_checks import pdf_pages_text
from tests.factories import BookFactory
from tests.library.test_stamped_files import FILES, publish

pytestmark = pytest.mark.django_db(transaction=True)


def count_page_loads(page) -> list[str]:
    """Every document the tab loads from now on (a redirect's target counts once).

    The page before must have finished loading first, or its late "load" event
    would be counted as one of the journey's loads."""
    page.wait_for_load_state("load")
    loads = []
    page.on("load", lambda: loads.append(page.url))
    return loads


def test_a_new_visitor_buys_two_books_with_an_email_and_refunds_one(live_server, page, mailoutbox):
    first = BookFactory(
        title="First Cart Book", minimum_price_cents=999, suggested_price_cents=1999
    )
    second = BookFactory(
        title="Second Cart Book", minimum_price_cents=500, suggested_price_cents=2499
    )

    page.goto(live_server.url + first.get_absolute_url())
    slide_to(page, "12.00")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_role("heading", name="Your cart")).to_be_visible()
    expect(page.get_by_test_id("cart-link")).to_contain_text("1")

    # The journey measured: from a book page to paid, with the cart as the checkout.
    loads = count_page_loads(page)
    page.goto(live_server.url + second.get_absolute_url())
    slide_to(page, "7.50")
    page.get_by_role("button", name="Add to cart").click()
    expect(page.get_by_test_id("cart-line")).to_have_count(2)
    expect(page.get_by_test_id("cart-total")).to_have_text("$19.50")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing wider
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # One form: the e-mail address and the card, on the cart page itself.
    form = page.get_by_test_id("checkout-form")
    form.get_by_label("Your e-mail address").fill("cart.visitor@example.com")
    form.get_by_label("Card number").fill("4242 4242 4242 4242")
    form.get_by_role("button", name="Pay $19.50").click()
    expect(page.get_by_test_id("guest-paid")).to_contain_text("cart.visitor@example.com")
    assert len(loads) <= 3, loads  # book page, cart (checkout), paid

    # The receipt's one-time link: confirm, and the library holds both books.
    receipt = next(m for m in mailoutbox if m.subject == "Your receipt for 2 books")
    path = re.search(r"https?://[^/\s]+(/accounts/link/\S+/)", receipt.body)[1]
    link = live_server.url + path  # the e-mail names SITE_URL
    page.goto(link)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your library")).to_be_visible()
    expect(page.get_by_role("link", name="First Cart Book")).to_be_visible()
    expect(page.get_by_role("link", name="Second Cart Book")).to_be_visible()

    # Refund the second book alone, in two clicks.
    second_order = Order.objects.get(book=second)
    page.goto(live_server.url + f"/orders/{second_order.public_id}/refund/")
    page.get_by_role("button", name="Confirm refund").click()
    expect(page.get_by_test_id("refund-status")).to_contain_text("Refunded")
    assert Order.objects.get(book=second).status == "refunded"
    assert Order.objects.get(book=first).status == "paid"

    # The same sign-in link again, in a browser not signed in: refused.
    page.context.clear_cookies()
    page.goto(link)
    expect(page.get_by_role("heading", name="This sign-in link has been used")).to_be_visible()


def test_a_new_visitor_gets_the_book_in_three_page_loads_and_one_form(live_server, page):
    """Issue 21, point 4: book page -> cart (the checkout: e-mail + card, one form) ->
    paid page, which is the visitor's books: the download is the stamped PDF."""
    book = BookFactory(title="Three Loads Book", stamp_files=True, minimum_price_cents=500)
    publish(book, "1.0")
    loads = count_page_loads(page)
    forms = []
    page.on("request", lambda r: forms.append(r.url) if r.method == "POST" else None)

    page.goto(live_server.url + book.get_absolute_url())  # 1: the book page
    page.get_by_role("button", name="Add to cart").click()  # 2: the cart is the checkout
    form = page.get_by_test_id("checkout-form")
    form.get_by_label("Your e-mail address").fill("three.loads@example.com")
    form.get_by_label("Card number").fill("4242 4242 4242 4242")
    form.get_by_role("button", name=re.compile(r"^Pay ")).click()  # 3: paid, the books
    expect(page.get_by_test_id("guest-paid")).to_contain_text("three.loads@example.com")
    with page.expect_download() as download:
        page.get_by_role("link", name="Download PDF of Three Loads Book").click()
    data = open(download.value.path(), "rb").read()  # noqa: SIM115

    assert len(loads) == 3, loads
    assert len(forms) == 1, forms
    assert data.startswith(b"%PDF") and data != FILES["1.0"]["pdf"]
    assert any("three.loads@example.com" in " ".join(p.split()) for p in pdf_pages_text(data))
