import pytest
from playwright.sync_api import expect

from core.money import format_cents
from payments.royalties import royalty_for
from tests.e2e.helpers import DEMO_BOOK, slide_to

pytestmark = pytest.mark.django_db(transaction=True)

# A demo book whose minimum is $0, so the slider reaches every edge of the rule.
PAY_WHAT_YOU_WANT_BOOK = "/books/writing-technical-books/"
EDGE_PRICES = ["0.99", "5.00", "7.98", "7.99", "10.00", "20.00", "24.99", "0.00"]


def test_the_demo_book_page_and_its_free_sample(live_server, page, demo_catalog):
    page.goto(live_server.url + DEMO_BOOK)

    expect(page.get_by_role("heading", level=1)).to_have_text(
        "BehindTheStack: The Evolution of Netflix's Architecture"
    )
    expect(page.locator(".installments")).to_have_text("Installments completed 9 / 15")
    toc = page.locator(".toc")
    expect(toc).to_contain_text("Part I — Context and Constraints")
    expect(toc).to_contain_text("Chapter 9: Consistency vs. Latency — The Custom Write-Ahead Log")
    expect(page.locator("#price-amount")).to_have_value("24.99")
    expect(page.locator("[data-author-earns]")).to_have_text("$19.99")

    slide_to(page, "20")
    expect(page.locator("#price-amount")).to_have_value("20.00")
    expect(page.locator("[data-author-earns]")).to_have_text("$16.00")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Sample PDF").click()
    download = download_info.value
    assert download.suggested_filename == "behindthestack-netflix-architecture-sample.pdf"
    with open(download.path(), "rb") as f:
        assert f.read(5) == b"%PDF-"


def test_the_live_author_earns_matches_python_at_every_edge_price(live_server, page, demo_catalog):
    page.goto(live_server.url + PAY_WHAT_YOU_WANT_BOOK)
    earns = page.locator("[data-author-earns]")

    for dollars in EDGE_PRICES:
        slide_to(page, dollars)
        cents = int(dollars.replace(".", ""))
        expect(earns).to_have_text(format_cents(royalty_for(cents)))

    slide_to(page, "10")
    expect(earns).to_have_text("$8.00")
    slide_to(page, "7.98")
    expect(earns).to_have_text("$5.88")

    # Typing works the same, and an invalid amount says why.
    page.locator("#price-amount").fill("0.50")
    expect(page.locator("[data-price-error]")).to_have_text("Pay $0 or at least $0.99.")
    page.locator("#price-amount").fill("12.34")
    expect(earns).to_have_text(format_cents(royalty_for(1234)))
    expect(page.locator("[data-price-error]")).to_be_hidden()
