"""An author reads a book's funnel and price chart; a reader e-mails the author,
who blocks them from the link in the message."""

import re

import pytest
from playwright.sync_api import expect

from catalog import stats
from catalog.models import BookDailyStats
from tests.e2e.helpers import DEMO_BOOK, log_in

pytestmark = pytest.mark.django_db(transaction=True)

SLUG = DEMO_BOOK.strip("/").split("/")[-1]


def test_the_author_sees_the_funnel_and_the_price_chart(browser, live_server, page, demo_catalog):
    url = live_server.url
    visitor = browser.new_context()
    reader_page = visitor.new_page()
    for _ in range(3):  # the first visit renders, the others come from the page cache
        reader_page.goto(url + DEMO_BOOK)
    visitor.close()
    stats.flush_views()  # what Celery beat does every few minutes
    views = BookDailyStats.objects.get(book__slug=SLUG).views
    assert views == 3

    log_in(page, url, "author@example.com")
    page.goto(url + "/author/books/")
    page.locator(f'a[href="/author/books/{SLUG}/insights/"]').click()
    expect(page.get_by_role("heading", name=re.compile(r"^Insights: "))).to_be_visible()

    page.get_by_label("Period").select_option("all")
    page.get_by_role("button", name="Show").click()
    funnel = page.get_by_test_id("funnel")
    expect(funnel.get_by_role("row", name=re.compile(r"^Views 3"))).to_be_visible()
    purchases = int(page.get_by_test_id("funnel-purchases").inner_text())
    assert purchases > 0

    chart = page.get_by_role("img", name=re.compile(r"^Purchases per price band"))
    expect(chart).to_be_visible()
    bars = chart.locator("rect")
    assert bars.count() > 0
    assert "Minimum price" in chart.inner_html() and "Suggested price" in chart.inner_html()
    page.get_by_text("Purchases per price band, as a table").click()
    table = page.get_by_test_id("price-table")
    expect(table).to_be_visible()
    counts = [int(c) for c in table.locator("tbody td").all_inner_texts()]
    summary = page.get_by_test_id("price-summary").inner_text()
    assert sum(counts) == sum(int(n) for n in re.findall(r": (\d+)", summary))
    expect(page.get_by_role("heading", name="Refund reasons per release")).to_be_visible()


def test_a_reader_emails_the_author_who_blocks_them(
    browser, live_server, page, demo_catalog, mailoutbox
):
    url = live_server.url
    log_in(page, url, "buyer7@example.com")
    page.goto(url + DEMO_BOOK)
    form = page.locator("#contact-author")
    expect(form.get_by_role("heading", name="E-mail the author")).to_be_visible()
    form.get_by_label("Your message").fill("Will there be a chapter on chaos engineering?")
    form.get_by_role("button", name="Send message").click()
    expect(page.get_by_text(re.compile(r"Your message is on its way to"))).to_be_visible()
    assert "author@example.com" not in page.content()

    sent = [m for m in mailoutbox if m.to == ["author@example.com"]]
    assert len(sent) == 1
    assert sent[0].extra_headers["Reply-To"] == "buyer7@example.com"
    assert "chaos engineering" in sent[0].body
    block_url = re.search(r"http://\S+/author/messages/block/\S+/", sent[0].body).group(0)

    author = browser.new_context()
    author_page = author.new_page()
    author_page.set_default_timeout(15_000)
    log_in(author_page, url, "author@example.com")
    author_page.goto(re.sub(r"^http://[^/]+", url, block_url))
    author_page.get_by_role("button", name="Block this sender").click()
    expect(author_page.get_by_role("heading", name="Blocked senders")).to_be_visible()
    expect(author_page.get_by_role("button", name=re.compile(r"^Unblock"))).to_be_visible()
    author.close()

    page.goto(url + DEMO_BOOK)
    form.get_by_label("Your message").fill("Hello again, are you there?")
    form.get_by_role("button", name="Send message").click()
    expect(
        page.get_by_text("This author does not take messages from your account.")
    ).to_be_visible()
    assert len([m for m in mailoutbox if m.to == ["author@example.com"]]) == 1
