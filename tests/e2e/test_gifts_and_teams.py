"""A reader gives a book for a later day: the scheduled delivery sends one e-mail, the
recipient claims it (no account before) and downloads it; the same link then refuses
a second claim. A manager buys 3 seats, invites two readers, moves one seat, and each
seat holder downloads the book."""

import re
from datetime import UTC, timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from catalog.models import Book
from payments import tasks
from payments.models import Gift, TeamLicence
from tests.e2e.helpers import DEMO_BOOK, log_in, slide_to

pytestmark = pytest.mark.django_db(transaction=True)

SLUG = DEMO_BOOK.strip("/").split("/")[-1]


def path_in(mail, pattern: str) -> str:
    return re.search(r"https?://[^/\s]+(" + pattern + r")", mail.body)[1]


def claim_and_download(browser, url: str, claim_path: str, title_part: str):
    """A reader with no account follows the e-mailed link, claims, signs in through
    the one-time link, and downloads the PDF from the library."""
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(url + claim_path)
    page.get_by_test_id("claim").click()
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your library")).to_be_visible()
    entry = page.locator(".library-entry", has_text=title_part)
    with page.expect_download() as download_info:
        entry.get_by_role("link", name="PDF").click()
    assert download_info.value.suggested_filename.endswith(".pdf")
    context.close()


def test_a_gift_for_a_later_day_is_delivered_once_claimed_and_downloaded(
    live_server, page, browser, demo_catalog, mailoutbox
):
    url = live_server.url
    log_in(page, url, "buyer3@example.com")
    page.goto(url + DEMO_BOOK)
    if page.get_by_test_id("give-owned").count():  # the giver owns it: a gift still is one
        page.get_by_test_id("give-owned").click()
        page.get_by_label("You pay").fill("15.00")
    else:
        slide_to(page, "15.00")
        page.get_by_test_id("buy-gift").click()
    expect(page.get_by_role("heading", name=re.compile("as a gift"))).to_be_visible()
    tomorrow = (timezone.now().astimezone(UTC) + timedelta(days=1)).date().isoformat()
    page.get_by_label("Recipient's e-mail address").fill("giftee@example.com")
    page.get_by_label("Your message (optional)").fill("Happy birthday, Sam!")
    page.get_by_label("Deliver on (optional)").fill(tomorrow)
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_role("button", name="Pay and send the gift").click()
    expect(page.get_by_test_id("gift-status")).to_have_text("Scheduled")
    assert not [m for m in mailoutbox if m.to == ["giftee@example.com"]]

    # Its day comes: the sweep runs, then runs again (a retried task): one e-mail.
    Gift.objects.update(deliver_at=timezone.now() - timedelta(seconds=1))
    assert tasks.deliver_due_gifts() == 1
    assert tasks.deliver_due_gifts() == 0
    [mail] = [m for m in mailoutbox if m.to == ["giftee@example.com"]]
    assert "Happy birthday, Sam!" in mail.body and "15.00" not in mail.body
    claim_path = path_in(mail, r"/gift/[0-9a-f-]+/")

    claim_and_download(browser, url, claim_path, "BehindTheStack")
    page.reload()
    expect(page.get_by_test_id("gift-status")).to_contain_text("Claimed")

    # The same link again, by anyone: refused.
    page.goto(url + claim_path)
    expect(page.get_by_test_id("claim-error")).to_contain_text("claimed already")
    expect(page.get_by_test_id("claim")).to_have_count(0)


def test_a_manager_buys_three_seats_invites_two_moves_one_and_each_holder_downloads(
    live_server, page, browser, demo_catalog, mailoutbox
):
    Book.objects.filter(slug=SLUG).update(team_licences=True, team_seat_discount_percent=20)
    url = live_server.url
    log_in(page, url, "buyer4@example.com")
    page.goto(url + f"/checkout/{SLUG}/team/")
    page.get_by_label("Seats").fill("3")
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_role("button", name="Pay for the seats").click()
    expect(page.get_by_role("heading", name=re.compile("Team licence"))).to_be_visible()
    expect(page.get_by_test_id("seat")).to_have_count(3)

    page.get_by_label("E-mail addresses, one per line").fill("ann@example.com\nbob@example.com")
    page.get_by_role("button", name="Invite").click()
    expect(page.get_by_text("Invited 2 readers.")).to_be_visible()
    # Bob's seat goes to Cy before Bob used it; Bob's link dies.
    bob_mail = next(m for m in mailoutbox if m.to == ["bob@example.com"])
    page.get_by_label("New address for seat 2").fill("cy@example.com")
    page.get_by_label("New address for seat 2").press("Enter")
    expect(page.get_by_text("The seat now goes to cy@example.com.")).to_be_visible()

    ann_mail = next(m for m in mailoutbox if m.to == ["ann@example.com"])
    cy_mail = next(m for m in mailoutbox if m.to == ["cy@example.com"])
    for mail in (ann_mail, cy_mail):
        claim_and_download(browser, url, path_in(mail, r"/seat/[0-9a-f-]+/"), "BehindTheStack")
    page.goto(url + path_in(bob_mail, r"/seat/[0-9a-f-]+/"))
    expect(page.get_by_role("heading", name="This seat link does not work")).to_be_visible()

    page.goto(url + TeamLicence.objects.get().get_absolute_url())
    expect(page.get_by_role("cell", name="Downloaded", exact=True)).to_have_count(2)
