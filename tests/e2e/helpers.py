"""Steps the browser tests share."""

import os
import re
from pathlib import Path

from playwright.sync_api import expect

DEMO_BOOK = "/books/behindthestack-netflix-architecture/"
DEMO_PASSWORD = "storefront-demo"


def log_in(page, base_url, email, password=DEMO_PASSWORD):
    page.goto(base_url + "/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    # Attached, not visible: on a phone it sits in the header's closed "Menu".
    expect(page.locator("form.logout")).to_be_attached()


def slide_to(page, dollars):
    page.eval_on_selector(
        "#price-slider",
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }",
        dollars,
    )


def pay_with(page, card):
    page.get_by_label("Card number").fill(card)
    page.get_by_role("button", name=re.compile(r"^Pay \$")).click()


def buy_demo_book(page, base_url, dollars="24.99"):
    page.goto(base_url + DEMO_BOOK)
    slide_to(page, dollars)
    page.get_by_role("button", name="Buy now").click()
    page.get_by_role("button", name=re.compile(r"^Pay \$")).click()
    pay_with(page, "4242 4242 4242 4242")
    expect(page.get_by_role("heading", name="Your library")).to_be_visible()


# `make screenshots` sets SCREENSHOTS to docs/screenshots; a normal run writes nothing.
SCREENSHOTS = os.environ.get("SCREENSHOTS", "")
SCREENSHOT_VIEWPORT = {"width": 1280, "height": 800}


def screenshot(page, name):
    """Save what the page shows (one 1280x800 viewport) as SCREENSHOTS/name.png,
    reduced to a 256-colour palette so the README's pictures stay small."""
    if not SCREENSHOTS:
        return
    from io import BytesIO

    from PIL import Image

    folder = Path(SCREENSHOTS)
    folder.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size(SCREENSHOT_VIEWPORT)
    page.evaluate("document.activeElement && document.activeElement.blur()")
    image = Image.open(BytesIO(page.screenshot(animations="disabled", caret="hide")))
    image = image.convert("RGB").quantize(colors=256, method=Image.Quantize.MEDIANCUT)
    image.save(folder / f"{name}.png", optimize=True)
