import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import DEMO_BOOK, log_in

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_demo_author_edits_a_chapter_and_publishes_with_a_click(
    live_server, page, demo_catalog
):
    url = live_server.url
    log_in(page, url, "author@example.com")
    page.goto(url + "/author/books/behindthestack-netflix-architecture/manuscript/")

    page.get_by_role("link", name="Chapter 2: When the Monolith Stopped Scaling").click()
    text = page.get_by_label("Text (Markdown)")
    text.fill(
        text.input_value() + "\n\n## A new section\n\nWritten in the browser — com acentuação."
    )
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("heading", name="A new section")).to_be_visible()
    page.get_by_role("button", name="Save chapter").click()
    expect(page.get_by_text("The chapter is saved.")).to_be_visible()

    page.get_by_label("Version", exact=True).fill("0.10")
    page.get_by_label("Release notes").fill("A new section in chapter 2.")
    page.get_by_role("button", name="Publish").click()

    expect(page.locator("[data-field=status_display]")).to_have_text("Done", timeout=60_000)
    expect(page.locator("progress")).to_have_attribute("value", "100")
    page.get_by_role("link", name="See the book page").click()
    expect(page).to_have_url(url + DEMO_BOOK)
    expect(page.get_by_test_id("version")).to_have_text("Version 0.10")
