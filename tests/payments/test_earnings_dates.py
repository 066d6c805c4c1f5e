"""An author (or staff) asking the earnings page for a period with missing, reversed
or absurd dates gets the page with a message saying what to fix, never a 500; the
CSV export is refused before any of it is written."""

from datetime import date, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from payments.earnings import custom_range_error

pytestmark = pytest.mark.django_db


def custom(start, end):
    return {"range": "custom", "start": start, "end": end}


def test_a_custom_period_ending_in_year_9999_shows_the_page_with_a_message(client, author):
    response = client.get(reverse("payments:earnings"), custom("2026-01-01", "9999-12-31"))

    assert response.status_code == 400
    assert "Choose dates between the years 2000 and" in response.content.decode()
    assert response.context["range"].key == "30d"  # the figures shown are the default period


def test_the_csv_of_an_absurd_period_is_refused_before_it_starts(client, author):
    response = client.get(reverse("payments:earnings_csv"), custom("2026-01-01", "9999-12-31"))

    assert response.status_code == 400
    assert not response.streaming
    assert "Choose dates between the years" in response.content.decode()


def test_a_period_from_year_one_is_refused_too(client, author):
    response = client.get(reverse("payments:earnings"), custom("0001-01-01", "2026-01-01"))

    assert response.status_code == 400
    assert "Choose dates between the years" in response.content.decode()


def test_a_reversed_period_says_so_instead_of_silently_showing_another(client, author):
    response = client.get(reverse("payments:earnings"), custom("2026-02-01", "2026-01-01"))

    assert response.status_code == 400
    assert "The start date must be on or before the end date." in response.content.decode()


def test_a_custom_period_without_its_dates_asks_for_them(client, author):
    response = client.get(reverse("payments:earnings"), custom("", "not a date"))

    assert response.status_code == 400
    assert "Choose both a start and an end date" in response.content.decode()


def test_a_sensible_custom_period_is_shown_and_exported(client, author):
    today = timezone.localdate()
    period = custom((today - timedelta(days=400)).isoformat(), today.isoformat())

    page = client.get(reverse("payments:earnings"), period)
    export = client.get(reverse("payments:earnings_csv"), period)

    assert page.status_code == 200 and page.context["range"].key == "custom"
    assert export.status_code == 200 and export.streaming


@pytest.mark.parametrize(
    "start, end, ok",
    [
        ("2000-01-01", "2000-01-01", True),
        ("1999-12-31", "2000-01-01", False),
        ("2026-01-01", "2027-12-31", True),
        ("2026-01-01", "2028-01-01", False),
    ],
)
def test_the_bounds_are_the_year_2000_to_next_year(start, end, ok):
    today = date(2026, 6, 1)
    error = custom_range_error(date.fromisoformat(start), date.fromisoformat(end), today=today)

    assert (error == "") is ok
