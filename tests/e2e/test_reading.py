"""Reading online in a real browser: come back to the same chapter; see what changed."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import buy_demo_book, log_in
from tests.e2e.test_accessibility import axe_source, axe_violations  # noqa: F401 (a fixture)

pytestmark = pytest.mark.django_db(transaction=True)

BOOK = "BehindTheStack: The Evolution"


@pytest.fixture
def author_page(browser, live_server, demo_catalog):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, live_server.url, "author@example.com")
    yield page
    context.close()


def test_a_reader_comes_back_to_chapter_two_and_sees_what_the_new_version_changed(
    live_server,
    page,
    author_page,
    demo_catalog,
    axe_source,  # noqa: F811
):
    url = live_server.url
    log_in(page, url, "buyer7@example.com")
    buy_demo_book(page, url)
    entry = page.locator(".library-entry", has_text=BOOK)
    entry.get_by_role("link", name="Read online").click()
    expect(page.get_by_role("heading", name="Contents")).to_be_visible()
    assert axe_violations(page, axe_source) == []
    second = page.locator(".toc-list a").nth(1)
    title = second.inner_text()
    second.click()
    expect(page).to_have_url(re.compile(r"/read/2/$"))
    expect(page.get_by_test_id("chapter-text").get_by_role("heading", level=1)).to_have_text(title)
    page.get_by_role("link", name=re.compile("→$")).click()  # next: chapter 3
    expect(page).to_have_url(re.compile(r"/read/3/$"))
    page.get_by_role("link", name=re.compile("^←")).last.click()  # previous: back to 2
    expect(page).to_have_url(re.compile(r"/read/2/$"))

    # On a phone the chapter fits the screen: no sideways scrolling.
    page.set_viewport_size({"width": 390, "height": 800})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    assert axe_violations(page, axe_source) == []

    page.goto(url + "/")  # leaves, and comes back later
    page.goto(url + "/library/")
    entry.get_by_role("link", name="Continue reading").click()
    expect(page).to_have_url(re.compile(r"/read/2/$"))
    expect(page.get_by_test_id("chapter-text").get_by_role("heading", level=1)).to_have_text(title)

    # The author changes that chapter (the manuscript's second) and publishes a new version.
    author_page.goto(url + "/author/books/behindthestack-netflix-architecture/manuscript/")
    author_page.get_by_role("link", name=title, exact=True).click()
    text = author_page.get_by_label("Text (Markdown)")
    text.fill(text.input_value() + "\n\n## A new section\n\nWritten after the reader's visit.")
    author_page.get_by_role("button", name="Save chapter").click()
    expect(author_page.get_by_text("The chapter is saved.")).to_be_visible()
    author_page.get_by_label("Version", exact=True).fill("0.10")
    author_page.get_by_role("button", name="Publish").click()
    expect(author_page.locator("[data-field=status_display]")).to_have_text("Done", timeout=60_000)

    page.goto(url + "/library/")
    changes = entry.get_by_test_id("changes")
    expect(changes).to_contain_text("Since version 0.9: 1 chapter changed")
    changes.locator("summary").click()
    expect(changes.locator("li")).to_have_text([title])
    assert axe_violations(page, axe_source) == []
    page.goto(url + "/library/e-reader/")
    assert axe_violations(page, axe_source) == []
    page.goto(url + "/library/")
    # The reader's place survives the new version.
    entry.get_by_role("link", name="Continue reading").click()
    expect(page.get_by_test_id("chapter-text")).to_contain_text("Written after the reader's visit.")
