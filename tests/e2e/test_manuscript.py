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

    page.get_by_role(
        "link", name="Chapter 2: When the Monolith Stopped Scaling", exact=True
    ).click()
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


def test_the_demo_author_deletes_a_chapter_after_confirming_and_undoes_it(
    live_server, page, demo_catalog
):
    url = live_server.url
    log_in(page, url, "author@example.com")
    page.goto(url + "/author/books/behindthestack-netflix-architecture/manuscript/")
    chapter = "Chapter 2: When the Monolith Stopped Scaling"
    rows = page.locator("table tbody tr")
    count = rows.count()
    position = rows.filter(has_text=chapter).locator("td").first.inner_text()

    # Cancel first: the dialog asks, nothing is deleted.
    page.get_by_role("link", name=f"Delete {chapter}").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text(f"Delete “{chapter}”?")
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(rows).to_have_count(count)

    page.get_by_role("link", name=f"Delete {chapter}").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete chapter").click()
    expect(page.get_by_test_id("undo-delete")).to_contain_text(f"“{chapter}” is deleted.")
    expect(page.get_by_role("link", name=chapter, exact=True)).to_have_count(0)
    expect(rows).to_have_count(count - 1)

    page.get_by_test_id("undo-delete").get_by_role("button", name="Undo").click()
    expect(page.get_by_text(f"“{chapter}” is back in the manuscript.")).to_be_visible()
    expect(rows).to_have_count(count)
    restored = rows.filter(has_text=chapter)
    expect(restored.locator("td").first).to_have_text(position)  # back in its place


def test_without_javascript_deleting_a_chapter_asks_on_its_own_page(
    live_server, browser, demo_catalog
):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    url = live_server.url
    log_in(page, url, "author@example.com")
    page.goto(url + "/author/books/behindthestack-netflix-architecture/manuscript/")
    chapter = "Chapter 2: When the Monolith Stopped Scaling"

    page.get_by_role("link", name=f"Delete {chapter}").click()
    expect(page.get_by_role("heading", name=f"Delete “{chapter}”?")).to_be_visible()
    page.get_by_role("button", name="Delete chapter").click()
    expect(page.get_by_test_id("undo-delete")).to_be_visible()
    expect(page.get_by_role("link", name=chapter, exact=True)).to_have_count(0)
    page.get_by_role("button", name=f"Restore {chapter}").click()
    expect(page.get_by_role("link", name=chapter, exact=True)).to_be_visible()
    context.close()
