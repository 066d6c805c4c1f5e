import re

import pytest
from django.contrib.auth import get_user_model
from django.test import override_settings
from fpdf import FPDF
from playwright.sync_api import expect

from library.models import Entitlement
from payments.models import Refund
from tests.e2e.helpers import buy_demo_book, log_in
from tests.ebook_checks import pdf_pages_text

pytestmark = pytest.mark.django_db(transaction=True)


def pdf_v1() -> bytes:
    """A real one-page PDF: the demo book is stamped, so the reader gets it with their name."""
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.cell(text="The demo book, version 1.0")
    return bytes(pdf.output())


def reader_name(email: str) -> str:
    return get_user_model().objects.get(email=email).name


@pytest.fixture
def author_page(browser, live_server, demo_catalog):
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15_000)
    log_in(page, live_server.url, "author@example.com")
    yield page
    context.close()


def test_a_new_version_reaches_the_reader(
    live_server, page, author_page, demo_catalog, mailoutbox, tmp_path
):
    url = live_server.url
    log_in(
        page, url, "buyer7@example.com"
    )  # bought the Pocket Guide in the demo; now the demo book
    buy_demo_book(page, url)
    entry = page.locator(".library-entry", has_text="BehindTheStack: The Evolution")
    expect(entry).to_contain_text("Version 0.9")
    with page.expect_download():
        entry.get_by_role("link", name="PDF").click()

    # The author publishes the next version with notes.
    author_page.goto(url + "/author/books/behindthestack-netflix-architecture/releases/new/")
    author_page.get_by_label("Version", exact=True).fill("1.0")
    author_page.get_by_label("Release notes").fill("Part IV: Engineering Philosophy is here.")
    pdf = tmp_path / "v1.pdf"
    pdf.write_bytes(pdf_v1())
    author_page.get_by_label("PDF", exact=True).set_input_files(str(pdf))
    author_page.get_by_role("button", name="Upload").click()
    expect(author_page.get_by_text("Version 1.0 is published")).to_be_visible()

    page.reload()
    expect(entry).to_contain_text("Version 1.0")
    expect(entry).to_contain_text("Updated since you last downloaded")
    message = next(
        m for m in mailoutbox if m.to == ["buyer7@example.com"] and "New version" in m.subject
    )
    assert "Part IV: Engineering Philosophy is here." in message.body
    with page.expect_download() as download_info:
        entry.get_by_role("link", name="PDF").click()
    download = download_info.value
    assert download.suggested_filename == "behindthestack-netflix-architecture-v1.0.pdf"
    with open(download.path(), "rb") as f:
        text = " ".join(pdf_pages_text(f.read())[0].split())
    assert "The demo book, version 1.0" in text
    order = Entitlement.objects.get(
        user__email="buyer7@example.com", book__slug="behindthestack-netflix-architecture"
    ).order_ref
    assert (
        f"Prepared for {reader_name('buyer7@example.com')} · buyer7@example.com · order {order}"
        in text
    )


def test_a_refund_in_two_clicks_and_an_admin_approving_a_held_one(
    live_server, page, browser, demo_catalog, mailoutbox
):
    url = live_server.url
    log_in(page, url, "buyer9@example.com")
    buy_demo_book(page, url, "19.50")
    page.get_by_role("link", name="Request a refund").first.click()  # from the library

    page.get_by_role("button", name="Confirm refund").click()  # click 2

    expect(page.get_by_test_id("refund-status")).to_contain_text("Refunded")
    page.goto(url + "/library/")
    expect(page.locator(".library-list")).not_to_contain_text("BehindTheStack: The Evolution")
    assert any(
        m.subject.startswith("Your refund for") and m.to == ["buyer9@example.com"]
        for m in mailoutbox
    )

    # Over the limit, the next refund waits for an admin, who approves it in the admin.
    with override_settings(REFUND_AUTO_LIMIT=1):
        buy_demo_book(page, url, "20")
        page.get_by_role("link", name="Request a refund").first.click()
        page.get_by_role("button", name="Confirm refund").click()
        expect(page.get_by_test_id("refund-status")).to_contain_text("Requested (manual review)")
        held = Refund.objects.get(status="requested")

        context = browser.new_context()
        admin = context.new_page()
        admin.set_default_timeout(15_000)
        admin.goto(url + "/admin/login/")
        admin.locator("#id_username").fill("admin@example.com")
        admin.locator("#id_password").fill("storefront-demo")
        admin.get_by_role("button", name=re.compile("Log in", re.I)).click()
        admin.goto(url + "/admin/payments/refund/")
        admin.locator(f'input[name="_selected_action"][value="{held.pk}"]').check()
        admin.locator('select[name="action"]').select_option("approve")
        admin.get_by_role("button", name="Go").click()
        admin.get_by_role("button", name="Approve and refund").click()
        expect(admin.get_by_text("1 request(s) approved and refunded.")).to_be_visible()
        context.close()
    held.refresh_from_db()
    assert held.status == "refunded"
    assert not Entitlement.objects.get(
        user__email="buyer9@example.com", book__slug="behindthestack-netflix-architecture"
    ).is_active


def test_the_demo_author_reads_the_dashboard_and_downloads_the_csv(
    live_server, author_page, demo_catalog
):
    page = author_page
    page.goto(live_server.url + "/author/earnings/?range=all")
    expect(page.get_by_test_id("by-book")).to_contain_text("BehindTheStack: The Evolution")
    expect(page.get_by_test_id("total-copies")).not_to_have_text("0")
    expect(page.get_by_test_id("sales")).to_contain_text("$24.99")
    all_time = page.get_by_test_id("total-royalties").inner_text()

    page.get_by_label("Period").select_option("30d")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(re.compile(r"range=30d"))
    assert (
        page.get_by_test_id("total-royalties").inner_text() != all_time
    )  # the 75- and 90-day sales drop out

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    with open(download_info.value.path(), encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0] == "date,book,type,price_paid,your_royalty,order_status,coupon,sold_as"
    assert any("24.99,19.99" in line for line in lines[1:])
