"""The store's chrome in a browser (issue 20): the header at 1280 and 390 px,
the buy box on a phone, the cover thumbnails, the 404 page, the payment page's
demo-card notice, the credit packs and a receipt with a long title."""

import itertools
import re

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import DEMO_BOOK, log_in, pay_with

pytestmark = pytest.mark.django_db(transaction=True)

AUTHOR_LINKS = ["Library", "Orders", "Credits", "Books", "Earnings", "Payouts"]


def header_nav(page):
    return page.get_by_role("navigation", name="Account")


def inside_viewport(box, width):
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width


def test_at_1280_the_header_shows_every_link_of_an_author(live_server, page, demo_catalog):
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, live_server.url, "author@example.com")

    nav = header_nav(page)
    expect(nav.get_by_text("Menu")).to_be_hidden()
    for name in [*AUTHOR_LINKS, "Raphael Silva Fontes"]:
        link = nav.get_by_role("link", name=name, exact=True)
        expect(link).to_be_visible()
        assert inside_viewport(link.bounding_box(), 1280), name
    expect(nav.get_by_role("button", name="Log out")).to_be_visible()
    expect(nav.get_by_role("link", name="Admin")).to_have_count(0)  # not staff

    nav.get_by_role("link", name="Earnings").click()
    expect(page).to_have_url(re.compile(r"/author/earnings/$"))


def test_at_390_the_header_folds_into_a_menu_that_opens_without_js(live_server, page, demo_catalog):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url, "author@example.com")
    nav = header_nav(page)
    menu = nav.get_by_text("Menu")
    expect(menu).to_be_visible()
    assert inside_viewport(menu.bounding_box(), 390)
    expect(nav.get_by_role("link", name="Payouts")).to_be_hidden()

    menu.click()
    for name in [*AUTHOR_LINKS, "Raphael Silva Fontes"]:
        link = nav.get_by_role("link", name=name, exact=True)
        expect(link).to_be_visible()
        assert inside_viewport(link.bounding_box(), 390), name
    expect(nav.get_by_role("button", name="Log out")).to_be_visible()
    nav.get_by_role("link", name="Payouts").click()
    expect(page).to_have_url(re.compile(r"/author/payouts/$"))


@pytest.mark.parametrize("signed_in", [False, True])
def test_at_390_the_buy_box_is_one_tap_from_the_top_of_the_book_page(
    live_server, page, demo_catalog, signed_in
):
    page.set_viewport_size({"width": 390, "height": 844})
    if signed_in:
        log_in(page, live_server.url, "admin@example.com")
    page.goto(live_server.url + DEMO_BOOK)

    jump = page.get_by_role("link", name=re.compile("Get this book"))
    box = jump.bounding_box()
    assert box and box["y"] + box["height"] <= 844, box  # in the first screen
    jump.click()
    buy = page.locator("#buy")
    expect(buy).to_be_in_viewport()
    expect(page.get_by_role("button", name="Buy now")).to_be_in_viewport()


def test_at_1280_the_buy_box_sits_beside_the_blurb_without_a_jump(live_server, page, demo_catalog):
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(live_server.url + DEMO_BOOK)

    expect(page.get_by_role("link", name=re.compile("Get this book"))).to_be_hidden()
    expect(page.get_by_role("button", name="Buy now")).to_be_in_viewport()


@pytest.mark.parametrize(("width", "min_width"), [(1280, 100), (390, 90)])
def test_cover_thumbnails_keep_their_size_and_shape(
    live_server, page, demo_catalog, width, min_width
):
    page.set_viewport_size({"width": width, "height": 900})
    for path in ("/", "/books/"):
        page.goto(live_server.url + path)
        covers = page.locator(".book-card img")
        assert covers.count() >= 3
        for i in range(covers.count()):
            covers.nth(i).scroll_into_view_if_needed()
            box = covers.nth(i).bounding_box()
            assert box["width"] >= min_width, (path, i, box)
            assert abs(box["width"] / box["height"] - 3 / 4) < 0.02, (path, i, box)
            assert inside_viewport(box, width), (path, i, box)
            # The whole cover shows: the image is not cropped by its box.
            natural = covers.nth(i).evaluate("img => img.naturalWidth / img.naturalHeight")
            assert abs(natural - box["width"] / box["height"]) < 0.02, (path, i, natural, box)


def test_a_missing_page_is_the_store_s_404(live_server, page):
    response = page.goto(live_server.url + "/no-such-page/")

    assert response.status == 404
    expect(page.get_by_role("heading", name="We could not find that page")).to_be_visible()
    expect(page.get_by_role("link", name="Storefront").first).to_be_visible()
    expect(page.get_by_role("search").first).to_be_visible()
    page.get_by_role("link", name="All books").first.click()
    expect(page).to_have_url(re.compile(r"/books/$"))


def test_the_demo_notice_is_styled_and_a_long_title_wraps_on_the_receipt(
    live_server, page, demo_catalog
):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url, "admin@example.com")
    page.goto(live_server.url + DEMO_BOOK)
    page.get_by_role("button", name="Buy now").click()
    page.get_by_role("button", name=re.compile(r"^Pay \$")).click()

    notice = page.get_by_test_id("demo-cards")
    expect(notice).to_contain_text("4242 4242 4242 4242")
    style = notice.evaluate(
        "el => { const s = getComputedStyle(el); return [s.backgroundColor, s.paddingLeft]; }"
    )

    pay_with(page, "4242 4242 4242 4242")
    expect(page.get_by_role("heading", name="Your library")).to_be_visible()
    page.goto(live_server.url + "/orders/")
    page.get_by_role("link", name="Receipt").first.click()
    summary = page.locator("dl.summary")
    expect(summary).to_contain_text("Netflix")
    edge = summary.bounding_box()
    for row in summary.locator("div").all():
        label, value = row.locator("dt").bounding_box(), row.locator("dd").bounding_box()
        assert value["x"] >= label["x"] + label["width"] + 8, (label, value)  # a gap
        assert value["x"] + value["width"] <= edge["x"] + edge["width"] + 0.5, (value, edge)
    # The notice had a background and padding of its own (checked last, so a
    # regression in either shows on its own).
    assert style[0] not in ("rgba(0, 0, 0, 0)", "transparent") and style[1] != "0px", style


def test_credit_pack_buttons_do_not_touch(live_server, page, demo_catalog):
    page.set_viewport_size({"width": 390, "height": 844})
    log_in(page, live_server.url, "reader@example.com")
    page.goto(live_server.url + "/credits/")

    buttons = page.locator("#packs button").all()
    assert len(buttons) >= 2
    boxes = [b.bounding_box() for b in buttons]
    for upper, lower in itertools.pairwise(boxes):
        assert lower["y"] - (upper["y"] + upper["height"]) >= 8, (upper, lower)
