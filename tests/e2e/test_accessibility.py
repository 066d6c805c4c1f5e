"""axe-core, injected into the pages people use most, finds no serious or
critical accessibility violation. axe-core comes from npm (tests/e2e/package.json,
`npm ci --prefix tests/e2e`); without it the tests skip locally and fail under CI=true.
The same walk through the store takes the README's screenshots (`make screenshots`)."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import require
from tests.e2e.helpers import (
    DEMO_BOOK,
    SCREENSHOT_VIEWPORT,
    log_in,
    pay_with,
    screenshot,
    slide_to,
)

pytestmark = pytest.mark.django_db(transaction=True)

AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


@pytest.fixture(scope="session")
def axe_source():
    require(AXE.is_file(), f"axe-core missing at {AXE}: run `npm ci --prefix tests/e2e`")
    return AXE.read_text(encoding="utf-8")


def axe_violations(page, axe_source):
    """Run axe-core over the page as it is now: every serious or critical
    violation, with the elements it found it on."""
    expect(page.locator("main")).to_be_visible()
    # Evaluated through the DevTools protocol, so the page's CSP does not block it.
    page.evaluate(axe_source + "\n;true")
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    return [
        f"{v['impact']} {v['id']}: {v['help']} -> "
        + "; ".join(
            " ".join(node["target"])
            + (f" ({node['failureSummary']})" if node.get("failureSummary") else "")
            for node in v["nodes"][:5]
        )
        for v in violations
        if v["impact"] in BLOCKING
    ]


class Audit:
    """Checks page after page, then fails once listing every page's violations."""

    def __init__(self, page, axe_source):
        self.page, self.axe_source, self.found = page, axe_source, []

    def check(self):
        self.found += [f"{self.page.url}: {v}" for v in axe_violations(self.page, self.axe_source)]

    def assert_clean(self):
        assert not self.found, "\n".join(self.found)


def test_a_readers_pages_pass_axe(live_server, page, demo_catalog, axe_source):
    url = live_server.url
    page.set_viewport_size(SCREENSHOT_VIEWPORT)
    audit = Audit(page, axe_source)
    page.goto(url + "/")
    audit.check()

    log_in(page, url, "reader@example.com")
    page.goto(url + "/")
    audit.check()

    page.goto(url + DEMO_BOOK)
    screenshot(page, "book-page")
    audit.check()

    slide_to(page, "19.50")
    page.get_by_role("button", name="Buy now").click()
    expect(page.get_by_role("heading", name="Checkout")).to_be_visible()
    screenshot(page, "checkout")
    audit.check()

    page.get_by_role("button", name=re.compile(r"^Pay \$")).click()
    expect(page.get_by_label("Card number")).to_be_visible()  # the demo card page
    audit.check()

    pay_with(page, "4242 4242 4242 4242")
    expect(page.get_by_role("heading", name="Your library")).to_be_visible()
    screenshot(page, "library")
    audit.check()

    for path in ("/orders/", "/credits/"):
        page.goto(url + path)
        audit.check()
    audit.assert_clean()


def test_an_authors_pages_pass_axe(live_server, page, demo_catalog, axe_source):
    url = live_server.url
    page.set_viewport_size(SCREENSHOT_VIEWPORT)
    audit = Audit(page, axe_source)
    log_in(page, url, "author@example.com")

    page.goto(url + "/author/earnings/")
    screenshot(page, "earnings")
    audit.check()

    book = "/author/books/behindthestack-netflix-architecture/"
    for path in ("edit/", "manuscript/", "coupons/"):
        page.goto(url + book + path)
        audit.check()
    audit.assert_clean()
