"""The earnings page's custom dates are usable on a phone and a desktop (issue 20)."""

import pytest
from playwright.sync_api import expect

from tests.e2e.helpers import log_in

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("width", [390, 1280])
def test_the_earnings_date_inputs_are_big_enough_to_use(live_server, page, demo_catalog, width):
    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, live_server.url, "author@example.com")
    page.goto(live_server.url + "/author/earnings/?range=all")
    for label in ("From (custom)", "To (custom)"):
        field = page.get_by_label(label)
        box = field.bounding_box()
        assert box["height"] >= 44, (label, box)
        assert box["width"] >= 160, (label, box)
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, (label, box)
    page.get_by_label("From (custom)").fill("2026-01-01")
    page.get_by_label("To (custom)").fill("2026-01-31")
    page.get_by_label("Period").select_option("custom")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("Jan 1, 2026")).to_be_visible()
