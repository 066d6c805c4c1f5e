"""Browser tests: Playwright driving Debian's Chromium (never a downloaded browser)."""

import os
import shutil

import pytest
from django.core.management import call_command
from pytest_django.live_server_helper import LiveServer

from tests.conftest import require

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# Playwright's sync API runs an event loop in the test thread; the ORM calls the
# tests make around it are still synchronous.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    require(
        bool(shutil.which(CHROMIUM) or os.path.exists(CHROMIUM)),
        f"Chromium not found at {CHROMIUM}",
    )
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": CHROMIUM_FLAGS}


def _through(app):
    return app


@pytest.fixture(scope="session")
def live_server(request):
    """pytest-django's live server, with /static/ served by WhiteNoise as in
    production (hashed, compressed names) rather than by the staticfiles finders."""
    server = LiveServer("localhost", start=False)
    server.thread.static_handler = _through
    server.start()
    yield server
    server.stop()


@pytest.fixture
def page(page):
    """The test's page; a Content-Security-Policy violation on it fails the test."""
    page.set_default_timeout(15_000)
    violations = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield page
    assert not violations, violations


@pytest.fixture
def demo_catalog():
    """The demo store of `make run`: books, accounts and sales."""
    call_command("seed_demo", "--quiet-accounts")
