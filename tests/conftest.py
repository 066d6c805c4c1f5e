import os
import uuid
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings

# Under CI=true a missing service or browser is a failure, never a skip.
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_report_header(config):
    db = django_settings.DATABASES["default"]
    return [
        f"storefront: database={db['ENGINE'].rsplit('.', 1)[-1]} name={db['NAME']} "
        f"redis={'yes' if django_settings.REDIS_URL else 'no'} ci={IN_CI}"
    ]


def pytest_configure(config):
    if IN_CI and "postgresql" not in django_settings.DATABASES["default"]["ENGINE"]:
        raise pytest.UsageError("CI=true but DATABASE_URL is not PostgreSQL")
    # Tests run tasks in-process unless a test starts a real worker itself.
    from storefront.celery import app

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    # Pages render through the production static storage (hashed names), which
    # needs collected files. Only the xdist controller collects, before workers start.
    if not hasattr(config, "workerinput"):
        from django.core.management import call_command

        call_command("collectstatic", interactive=False, verbosity=0)


@pytest.fixture(autouse=True)
def _isolated_test_settings(settings, tmp_path):
    """A demo store; fast hashing; uploaded and generated files in the test's own folder, never
    in var/; and a cache namespace of its own for every test so rate limits counted
    in one test (or another xdist worker) never leak into the next."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Tests run with DEBUG off on the demo gateway: a demo store on purpose.
    settings.DEMO_STORE = True
    settings.WEBHOOKS_ALLOW_LOOPBACK = True  # the tests' receivers listen on loopback
    settings.BOOK_VIEWS_PUSH_SECONDS = 0  # every view reaches the shared counter at once
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "media", "base_url": "/media/"},
        },
        "private": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "private", "base_url": None},
        },
    }
    cache = dict(django_settings.CACHES["default"])
    cache["KEY_PREFIX"] = f"test-{uuid.uuid4().hex}"
    settings.CACHES = {"default": cache}


@pytest.fixture(autouse=True)
def ratelimit_clock(monkeypatch):
    """Rate limits counted in the middle of one fixed window: core.ratelimit counts per
    window of the wall clock (a minute, five, an hour), and a test's requests that
    straddled a window's end found the count started again (a 200 where a 429 was
    due). Every limit's count is the test's own (its cache namespace above)."""
    now = [1_800_000_030.0]  # 30 s into a minute, 30 s into a 5-minute window
    monkeypatch.setattr("core.ratelimit.time", SimpleNamespace(time=lambda: now[0]))
    return now


@pytest.fixture(autouse=True)
def _celery_join_allowed():
    """Celery's "Never call result.get() within a task" flag is one process-wide
    global that every eager ``delay()`` sets and restores without a lock: two
    threads running eager tasks together (a live server's and the test's, or
    at_once's) can leave it set, and every later ``.get()`` in that xdist worker
    then fails. Each test starts with it clear."""
    from celery import _state

    _state._set_task_join_will_block(False)


@pytest.fixture
def author(client):
    """An author, signed in on ``client``."""
    from tests.factories import AuthorFactory

    author = AuthorFactory()
    client.force_login(author.user)
    return author


def require(condition: bool, reason: str):
    """Skip when a real service is missing locally; fail under CI."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI=true: {reason}")
    pytest.skip(reason)


def pytest_terminal_summary(terminalreporter):
    """Say how many browser tests really ran, so a CI log proves it."""
    passed = terminalreporter.stats.get("passed", [])
    e2e = [r for r in passed if r.when == "call" and "e2e" in r.keywords]
    db = django_settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
    terminalreporter.write_line(f"storefront: {len(e2e)} browser tests passed, database={db}")
