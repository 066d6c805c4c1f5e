"""An admin works the refund queue in the browser: two held requests, one bulk approval."""

import re
import uuid

import pytest
from django.test import override_settings
from playwright.sync_api import expect

from catalog.models import Book
from payments import refunds, services
from payments.models import LedgerTransaction, Refund
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def held_refunds(reader, count):
    """Refunds of ``count`` demo books ``reader`` just bought, held for review."""
    held = []
    with override_settings(REFUND_AUTO_LIMIT=0):
        for book in Book.objects.filter(minimum_price_cents__gt=0).order_by("pk")[:count]:
            order = services.place_order(
                buyer=reader,
                book=book,
                amount_cents=book.minimum_price_cents,
                checkout_token=uuid.uuid4(),
            )
            services.mark_paid(order_id=order.pk, amount_cents=book.minimum_price_cents)
            held.append(refunds.request_refund(order_id=order.pk, user=reader, reason="Too basic"))
    assert [r.status for r in held] == ["requested"] * count
    return held


def test_an_admin_approves_two_held_refunds_in_one_go(live_server, page, demo_catalog):
    url = live_server.url
    held = held_refunds(UserFactory(email="often@example.com"), 2)
    total = sum(r.amount_cents for r in held)

    page.goto(url + "/admin/login/")
    page.locator("#id_username").fill("admin@example.com")
    page.locator("#id_password").fill("storefront-demo")
    page.get_by_role("button", name=re.compile("Log in", re.I)).click()
    page.get_by_role("link", name="Refunds", exact=True).click()  # from the admin index

    expect(page.get_by_role("heading", name="Refund requests waiting for review")).to_be_visible()
    rows = page.locator("#result_list tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("often@example.com")
    expect(rows.first).to_contain_text("Too basic")
    expect(rows.first).to_contain_text("Refund limit:")
    expect(rows.first).to_contain_text(re.compile(r"\$\d+\.\d\d"))

    for refund in held:
        page.locator(f'input[name="_selected_action"][value="{refund.pk}"]').check()
    page.locator('select[name="action"]').select_option("approve")
    page.get_by_role("button", name="Go").click()
    expect(page.get_by_text(f"${total // 100}.{total % 100:02d} in all")).to_be_visible()
    page.get_by_label("Note for the log (optional)").fill("Checked: a new reader")
    page.get_by_role("button", name="Approve and refund").click()

    expect(page.get_by_text("2 request(s) approved and refunded.")).to_be_visible()
    expect(page.locator("#result_list")).to_have_count(0)  # the queue is empty
    for refund in held:
        refund.refresh_from_db()
        assert refund.status == "refunded" and refund.decided_by.email == "admin@example.com"
        assert LedgerTransaction.objects.filter(order=refund.order, kind="refund").count() == 1
    assert Refund.objects.filter(status="requested").count() == 0
