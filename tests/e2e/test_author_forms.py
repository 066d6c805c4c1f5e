"""What the author sees on the book form and the earnings page (issue 20)."""

import io
import re

import pytest
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.helpers import DEMO_BOOK, log_in

pytestmark = pytest.mark.django_db(transaction=True)

EDIT = "/author/books/behindthestack-netflix-architecture/edit/"


def png(color) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (90, 120), color).save(out, format="PNG")
    return out.getvalue()


def test_the_cover_field_previews_a_newly_chosen_picture_before_saving(
    live_server, page, demo_catalog
):
    url = live_server.url
    log_in(page, url, "author@example.com")
    page.goto(url + EDIT)
    preview = page.locator("[data-picture-preview]")
    expect(preview).to_be_hidden()

    page.get_by_label("Cover", exact=True).set_input_files(
        {"name": "new-cover.png", "mimeType": "image/png", "buffer": png((10, 120, 60))}
    )

    expect(preview).to_be_visible()
    expect(preview.get_by_role("img")).to_have_attribute(
        "src", re.compile(r"^data:image/png;base64,")
    )
    box = preview.get_by_role("img").bounding_box()
    assert box["width"] == 96 and box["height"] == 128
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("The book is saved.")).to_be_visible()
    page.goto(url + EDIT)
    expect(page.get_by_role("img", name="The current cover")).to_be_visible()


def test_the_language_select_groups_the_most_used_languages_first(live_server, page, demo_catalog):
    url = live_server.url
    log_in(page, url, "author@example.com")
    page.goto(url + EDIT)
    select = page.get_by_label("Language")
    labels = select.locator("optgroup").evaluate_all("gs => gs.map(g => g.label)")
    assert labels == ["Most used", "All languages (A–Z)"]
    first = select.locator("optgroup").first.locator("option").all_inner_texts()
    assert first[0] == "English" and "Portuguese" in " ".join(first[:3])
    expect(page.get_by_label("Page count")).to_have_count(0)
    expect(page.get_by_label("Word count")).to_have_count(0)


def test_a_category_on_the_book_page_leads_to_the_catalog_of_that_category(
    live_server, page, demo_catalog
):
    page.goto(live_server.url + DEMO_BOOK)
    link = page.locator("ul.facts li.badge a").first
    name = link.inner_text()
    link.click()
    expect(page).to_have_url(re.compile(r"/books/\?category=[\w-]+$"))
    expect(page.get_by_label("Category")).to_have_value(page.url.split("category=")[1])
    expect(page.locator("main")).to_contain_text("BehindTheStack")
    assert name
