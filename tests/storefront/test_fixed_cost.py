"""What every page pays once per process instead of once per request: the footer's
year and the static files' URLs are the same as when worked out on each page."""

from datetime import UTC, datetime

import pytest
from django.contrib.staticfiles.storage import staticfiles_storage
from django.template import engines
from django.urls import reverse
from django.utils import timezone
from whitenoise.storage import CompressedManifestStaticFilesStorage

from core.staticfiles import StaticFilesStorage
from storefront import context_processors


@pytest.mark.django_db
def test_the_footer_shows_the_year_the_now_tag_shows(client):
    page = client.get(reverse("catalog:list")).content.decode()

    year = engines["django"].from_string('{% now "Y" %}').render({})
    assert f"&copy; {year} " in page


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Auckland", "America/Los_Angeles"])
def test_the_year_turns_at_midnight_on_new_years_eve_in_the_time_zone(monkeypatch, zone):
    context_processors._years.clear()
    with timezone.override(zone):
        tz = timezone.get_current_timezone()
        last_second = datetime(2026, 12, 31, 23, 59, 59, tzinfo=tz).astimezone(UTC)
        first_second = datetime(2027, 1, 1, 0, 0, 0, tzinfo=tz).astimezone(UTC)

        monkeypatch.setattr(timezone, "now", lambda: last_second)
        assert context_processors.current_year() == 2026
        monkeypatch.setattr(timezone, "now", lambda: first_second)
        assert context_processors.current_year() == 2027
        monkeypatch.setattr(timezone, "now", lambda: last_second)  # a clock set back
        assert context_processors.current_year() == 2026


def test_static_urls_are_whitenoises_own():
    ours = StaticFilesStorage()
    theirs = CompressedManifestStaticFilesStorage()

    for name in ("css/store.css", "favicon.svg", "css/store.css"):
        assert ours.url(name) == theirs.url(name)
    assert ours.url("css/store.css") != "/static/css/store.css"  # hashed
    staticfiles_storage.url("css/store.css")
    assert isinstance(staticfiles_storage._wrapped, StaticFilesStorage)


def test_a_missing_static_file_is_still_an_error_every_time():
    storage = StaticFilesStorage()

    for _ in range(2):
        with pytest.raises(ValueError):
            storage.url("no/such/file.css")


def test_post_processing_again_forgets_the_urls(monkeypatch):
    storage = StaticFilesStorage()
    storage.url("css/store.css")
    monkeypatch.setattr(
        CompressedManifestStaticFilesStorage, "post_process", lambda *a, **k: iter(())
    )

    list(storage.post_process({}))

    assert storage._urls == {}
