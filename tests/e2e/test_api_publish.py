"""An author makes an API key in the browser, copies it, and the README's curl command
publishes a new version that the book page then shows."""

import re
import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.api.conftest import manuscript_zip
from tests.e2e.helpers import log_in
from tests.factories import PASSWORD, AuthorFactory, BookFactory

pytestmark = pytest.mark.django_db(transaction=True)


def readme_publish_command() -> str:
    readme = (Path(settings.BASE_DIR) / "README.md").read_text()
    return re.search(r'^curl -H "Authorization: Bearer \$KEY" .*/publish$', readme, re.M)[0]


def test_an_author_creates_a_key_and_the_documented_curl_publishes(
    live_server, page, context, tmp_path
):
    author = AuthorFactory()
    book = BookFactory(authors=[author], slug="ci-book", title="Built in CI")
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    url = live_server.url
    log_in(page, url, author.user.email, PASSWORD)

    page.goto(url + "/account/")
    page.get_by_role("link", name="API keys").click()
    page.get_by_label("Name").fill("GitHub Actions")
    page.get_by_label("Upload, preview and publish releases").check()
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("heading", name="Your new key")).to_be_visible()
    page.get_by_role("button", name="Copy").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    key = page.evaluate("navigator.clipboard.readText()")
    assert key.startswith("sf_") and key == page.get_by_role("textbox", name="Key").input_value()
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: nothing wider than it
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    (tmp_path / "book.zip").write_bytes(manuscript_zip("Written in git"))
    command = readme_publish_command().replace("https://store.example.com", url)
    command = command.replace("<slug>", book.slug)
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=tmp_path,
        env={"KEY": key, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert '"status":"done"' in done.stdout or '"kind":"publish"' in done.stdout, done

    page.goto(f"{url}/books/{book.slug}/")
    expect(page.get_by_test_id("version")).to_have_text("Version 1.0")
    page.goto(url + "/account/api-keys/")
    expect(page.get_by_test_id("api-key")).to_contain_text("last used")
