import re

import pytest
from playwright.sync_api import expect

from accounts.login_links import login_link_url
from accounts.services import account_for_email
from tests.conftest import require
from tests.e2e.helpers import DEMO_BOOK, slide_to
from tests.e2e.test_accessibility import AXE, Audit

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_header_sign_up_link_during_checkout_comes_back_to_the_checkout(
    live_server, page, mailoutbox, demo_catalog
):
    page.goto(live_server.url + DEMO_BOOK)
    slide_to(page, "19.50")
    page.get_by_role("button", name="Buy now").click()
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()

    page.locator(".site-header").get_by_role("link", name="Sign up").click()
    page.get_by_label("Email").fill("header.signup@example.com")
    page.get_by_label("Password", exact=True).fill("a long enough passphrase")
    page.get_by_label("Password (again)").fill("a long enough passphrase")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Verify your e-mail address")).to_be_visible()
    link = re.search(r"https?://\S+/accounts/confirm-email/\S+/", mailoutbox[-1].body)[0]
    page.goto(link)
    page.get_by_role("button", name="Confirm").click()

    # Back at checkout, signed in, with the chosen amount kept.
    expect(page).to_have_url(re.compile(r"/checkout/behindthestack-netflix-architecture/"))
    expect(page.get_by_test_id("amount")).to_have_text("$19.50")
    expect(page.locator("form.logout")).to_be_attached()


def test_a_one_time_link_signs_in_once_and_invites_to_choose_a_password(live_server, page):
    """On a phone (390 px), each page passing axe-core."""
    require(AXE.is_file(), f"axe-core missing at {AXE}: run `npm ci --prefix tests/e2e`")
    page.set_viewport_size({"width": 390, "height": 844})
    audit = Audit(page, AXE.read_text(encoding="utf-8"))
    guest, _ = account_for_email("link.reader@example.com")
    url = live_server.url + login_link_url(guest, next_url="/library/")

    page.goto(url)
    expect(page.get_by_role("heading", name="Sign in to")).to_be_visible()
    audit.check()
    page.get_by_role("button", name="Sign in").click()

    expect(page.get_by_role("heading", name="Your library")).to_be_visible()
    page.get_by_role("link", name="Choose a password").click()
    audit.check()
    page.get_by_label("Password", exact=True).fill("a long enough passphrase")
    page.get_by_label("Password (again)").fill("a long enough passphrase")
    page.get_by_role("button", name="Set password").click()
    guest.refresh_from_db()
    assert guest.check_password("a long enough passphrase")

    # The same link again in this browser just goes on to the library ...
    page.goto(url)
    expect(page.get_by_role("heading", name="Your library")).to_be_visible()
    # ... and in another browser it is refused, with a way to get a new one.
    other = page.context.browser.new_page()
    other.goto(url)
    expect(other.get_by_role("heading", name="This sign-in link has been used")).to_be_visible()
    expect(other.get_by_role("button", name="E-mail me a new link")).to_be_visible()
    audit.page = other
    audit.check()
    other.close()
    audit.assert_clean()
