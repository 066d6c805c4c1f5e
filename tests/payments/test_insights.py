"""Author insights: the funnel, view counting off the request path, the price chart,
refund reasons per release, who may see them, and what they cost."""

import uuid
from datetime import date, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog import stats
from catalog.models import BookDailyStats, Release
from catalog.tasks import flush_book_views
from payments import credit_purchases, credits, insights, refunds, services
from payments.earnings import date_range
from payments.models import Order, Refund
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate()


@pytest.fixture(autouse=True)
def _today():
    """Today as each test starts: read at import, it was the day the (xdist) workers
    collected the suite, and a run crossing midnight compared yesterday with today."""
    global TODAY
    TODAY = timezone.localdate()


def at(day: date, hour=12):
    return timezone.make_aware(timezone.datetime(day.year, day.month, day.day, hour))


def placed(book, price, *, day=None, buyer=None):
    order = services.place_order(
        buyer=buyer or UserFactory(), book=book, amount_cents=price, checkout_token=uuid.uuid4()
    )
    Order.objects.filter(pk=order.pk).update(created_at=at(day or TODAY))
    return order


def bought(book, price, *, day=None, buyer=None):
    order = placed(book, price, day=day, buyer=buyer)
    if price:
        services.mark_paid(order_id=order.pk, amount_cents=price)
    Order.objects.filter(pk=order.pk).update(paid_at=at(day or TODAY))
    return order


def refunded(order, *, day=None, reason=""):
    refunds.refund_order(order_id=order.pk, actor=order.buyer, reason=reason)
    refund = Refund.objects.get(order=order)
    assert refund.status == Refund.Status.REFUNDED
    day = day or TODAY
    Refund.objects.filter(pk=refund.pk).update(requested_at=at(day), refunded_at=at(day))
    return refund


def views(book, day, n):
    BookDailyStats.objects.create(book=book, day=day, views=n)


def custom(start, end):
    return date_range("custom", start=start, end=end)


# --- The funnel -------------------------------------------------------------------


def test_the_funnel_counts_views_checkouts_purchases_and_refunds_of_the_period():
    book, other = BookFactory(minimum_price_cents=0), BookFactory()
    start, end = TODAY - timedelta(days=10), TODAY - timedelta(days=3)
    inside, before, after = TODAY - timedelta(days=5), start - timedelta(days=1), TODAY

    views(book, start, 40)
    views(book, end, 60)
    views(book, before, 1000)
    views(book, after, 1000)
    views(other, inside, 500)
    placed(book, 1500, day=inside)  # abandoned checkout
    placed(book, 1500, day=before)
    sold = [bought(book, 1500, day=inside) for _ in range(3)]
    bought(book, 0, day=inside)  # a free copy is a purchase
    bought(book, 1500, day=before)
    late = bought(book, 1500, day=after)
    refunded(sold[0], day=inside)
    refunded(late, day=after)
    bought(other, 1999, day=inside)

    funnel = insights.funnel(book, custom(start, end))

    assert funnel == insights.Funnel(views=100, checkouts=5, purchases=4, refunds=1)
    steps = {step["label"]: step for step in funnel.steps()}
    assert steps["Checkouts"]["rate"] == 5.0  # 5 of 100 views
    assert steps["Purchases"]["rate"] == 80.0
    assert steps["Refunds"]["rate"] == 25.0


def test_a_second_payment_for_an_owned_book_is_no_purchase_and_its_refund_no_refund():
    book = BookFactory()
    reader = UserFactory()
    first, second = placed(book, 1500, buyer=reader), placed(book, 1500, buyer=reader)  # two tabs
    services.mark_paid(order_id=first.pk, amount_cents=1500)
    services.mark_paid(order_id=second.pk, amount_cents=1500)
    second.refresh_from_db()
    assert second.status in (Order.Status.DUPLICATE, Order.Status.REFUNDED)

    funnel = insights.funnel(book, date_range("30d"))

    assert (funnel.checkouts, funnel.purchases, funnel.refunds) == (2, 1, 0)


# --- Counting views -----------------------------------------------------------------


def test_a_book_page_view_writes_nothing_to_the_database(client, django_user_model):
    book = BookFactory()
    url = reverse("catalog:book", args=[book.slug])
    reader = UserFactory()
    for who in (None, reader, None):  # a miss, a signed-in reader, a page cache hit
        client.logout()
        if who:
            client.force_login(who)
        with CaptureQueriesContext(connection) as queries:
            assert client.get(url).status_code == 200
        writes = [
            q["sql"]
            for q in queries.captured_queries
            if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
            and "django_session" not in q["sql"]
        ]
        assert writes == []
    assert stats.live_views(book.slug, TODAY) == 3
    assert not BookDailyStats.objects.exists()


def test_cached_pages_count_and_missing_books_do_not(client):
    book = BookFactory()
    url = reverse("catalog:book", args=[book.slug])
    assert client.get(url)["X-Page-Cache"] == "miss"
    assert client.get(url)["X-Page-Cache"] == "hit"
    assert client.get(reverse("catalog:book", args=["no-such-book"])).status_code == 404
    assert stats.live_views(book.slug, TODAY) == 2
    assert stats.live_views("no-such-book", TODAY) == 0


def test_flushing_twice_copies_the_counters_once():
    book, quiet = BookFactory(), BookFactory()
    for _ in range(3):
        stats.count_view(book.slug)
    stats.count_view(book.slug, TODAY - timedelta(days=1))

    flush_book_views.delay()
    flush_book_views.delay()

    rows = dict(BookDailyStats.objects.filter(book=book).values_list("day", "views"))
    assert rows == {TODAY: 3, TODAY - timedelta(days=1): 1}
    assert not BookDailyStats.objects.filter(book=quiet).exists()
    assert stats.flush_views() == 0  # nothing changed

    stats.count_view(book.slug)
    stats.flush_views()
    assert BookDailyStats.objects.get(book=book, day=TODAY).views == 4


def test_a_lost_counter_starts_again_from_what_was_flushed():
    book = BookFactory()
    for _ in range(5):
        stats.count_view(book.slug)
    stats.flush_views()
    cache.delete(stats.counter_key(book.slug, TODAY))  # Redis restarted, say

    stats.count_view(book.slug)
    stats.count_view(book.slug)
    stats.flush_views()
    stats.flush_views()

    assert BookDailyStats.objects.get(book=book, day=TODAY).views == 7
    assert stats.live_views(book.slug, TODAY) == 7


def test_flushed_views_reach_the_funnel(client):
    book = BookFactory()
    url = reverse("catalog:book", args=[book.slug])
    for _ in range(4):
        client.get(url)
    stats.flush_views()
    assert insights.funnel(book, date_range("30d")).views == 4


# --- Prices -----------------------------------------------------------------------


def test_the_price_chart_bins_the_prices_readers_chose_against_minimum_and_suggested():
    book = BookFactory(minimum_price_cents=500, suggested_price_cents=1000)
    for price in (500, 500, 750, 1000, 1000, 1000, 2500):
        bought(book, price)
    bought(book, 4000, day=TODAY - timedelta(days=90))  # outside the period
    reader = UserFactory()
    credits.grant_credits(user=reader, credits=1)
    credit_purchases.buy_with_credit(buyer=reader, book=book, checkout_token=uuid.uuid4())

    chart = insights.price_chart(book, date_range("30d"))

    assert chart.total == 7  # the credit purchase chose no price
    assert (chart.at_minimum, chart.below_suggested, chart.at_suggested, chart.above_suggested) == (
        2,
        1,
        3,
        1,
    )
    assert chart.median_cents == 1000
    assert chart.mean_cents == (500 + 500 + 750 + 3000 + 2500) // 7
    # $2.50 bands up to $27.50: 12 bands at most, every price inside one.
    assert chart.bins[0].high_cents - chart.bins[0].low_cents == 250
    assert len(chart.bins) <= insights.PRICE_BINS
    counts = {b.low_cents: b.count for b in chart.bins if b.count}
    assert counts == {500: 2, 750: 1, 1000: 3, 2500: 1}
    assert sum(b.count for b in chart.bins) == 7
    tallest = max(chart.bins, key=lambda b: b.count)
    assert tallest.height == insights.CHART_HEIGHT
    assert chart.minimum_x == pytest.approx(100 * 500 / chart.scale_cents, abs=0.01)
    assert chart.suggested_x == pytest.approx(100 * 1000 / chart.scale_cents, abs=0.01)


def test_a_period_without_sales_has_an_empty_chart():
    chart = insights.price_chart(BookFactory(), date_range("30d"))
    assert chart.total == 0 and chart.median_cents is None
    assert all(b.count == 0 for b in chart.bins)


# --- Refund reasons per release ---------------------------------------------------------


def test_refund_reasons_are_grouped_under_the_release_current_when_asked():
    book = BookFactory(minimum_price_cents=0)
    v1 = Release.objects.create(book=book, version="1.0", published_at=at(TODAY - timedelta(20)))
    Release.objects.create(book=book, version="2.0", published_at=at(TODAY - timedelta(10)))
    Release.objects.create(book=book, version="3.0")  # never published
    refunded(bought(book, 1500), day=TODAY - timedelta(25), reason="Too short")
    refunded(bought(book, 1500), day=TODAY - timedelta(15), reason="Typos everywhere")
    refunded(bought(book, 1500), day=TODAY - timedelta(12))
    refunded(bought(book, 1500), day=TODAY - timedelta(2), reason="Chapter 3 is broken")
    refunded(bought(book, 1500), day=TODAY - timedelta(40), reason="Outside the period")
    assert v1.pk

    groups = insights.refund_reasons(book, date_range("30d"))

    summary = [(g.version, g.count, [r["reason"] for r in g.reasons]) for g in groups]
    assert summary == [
        ("2.0", 1, ["Chapter 3 is broken"]),
        ("1.0", 2, ["Typos everywhere"]),
        (None, 1, ["Too short"]),
    ]


# --- The page: who sees it, what it costs ---------------------------------------------------


@pytest.fixture
def book_with_history():
    author, coauthor = AuthorFactory(), AuthorFactory()
    book = BookFactory(authors=[author, coauthor], minimum_price_cents=500)
    views(book, TODAY, 50)
    refunded(bought(book, 800), reason="Not for me")
    bought(book, 1200)
    return book, author, coauthor


def test_the_books_authors_and_staff_see_its_insights(client, book_with_history):
    book, author, coauthor = book_with_history
    url = reverse("payments:insights", args=[book.slug])
    assert client.get(url).status_code == 302  # to the login page
    for stranger in (UserFactory(), AuthorFactory().user):
        client.force_login(stranger)
        assert client.get(url).status_code == 403
    for allowed in (author.user, coauthor.user, UserFactory(is_staff=True)):
        client.force_login(allowed)
        response = client.get(url)
        assert response.status_code == 200
        page = response.content.decode()
        assert 'data-testid="funnel-views">50<' in page
        assert 'data-testid="funnel-purchases">2<' in page
        assert "Not for me" in page
    assert client.get(reverse("payments:insights", args=["no-such-book"])).status_code == 404


def test_a_bad_period_is_explained_not_a_500(client, book_with_history):
    book, author, _ = book_with_history
    client.force_login(author.user)
    url = reverse("payments:insights", args=[book.slug])
    response = client.get(url, {"range": "custom", "start": "2020-05-01", "end": "2020-01-01"})
    assert response.status_code == 400
    assert 'data-testid="range-error"' in response.content.decode()


def test_the_authors_books_list_links_to_insights(client, book_with_history):
    book, author, _ = book_with_history
    client.force_login(author.user)
    page = client.get(reverse("catalog:my_books")).content.decode()
    assert reverse("payments:insights", args=[book.slug]) in page


def _insights_queries(client, book) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(reverse("payments:insights", args=[book.slug])).status_code == 200
    return len(queries)


def test_the_insights_page_costs_the_same_queries_with_more_data(client, book_with_history):
    book, author, _ = book_with_history
    client.force_login(author.user)
    _insights_queries(client, book)  # the session and user reach the cache
    few = _insights_queries(client, book)

    for n in range(4):
        Release.objects.create(book=book, version=f"1.{n}", published_at=at(TODAY - timedelta(n)))
    for n in range(15):
        order = bought(book, 500 + 100 * n, day=TODAY - timedelta(days=n))
        if n % 3 == 0:
            refunded(order, day=TODAY - timedelta(days=n), reason=f"Reason {n}")
        views(book, TODAY - timedelta(days=n + 1), n)

    assert _insights_queries(client, book) == few
    assert few <= 12
