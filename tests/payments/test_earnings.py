"""The earnings dashboard computed for a scripted history, checked to the cent."""

import csv
import io
import uuid
from datetime import date, timedelta

import pytest
from celery.schedules import crontab
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone

from payments import earnings, ledger_guards, payouts, refunds, services
from payments.earnings import chart, date_range, earnings_for
from payments.ledger import audit, rebuild_daily
from payments.models import (
    LedgerEntry,
    LedgerTransaction,
    Order,
    Payout,
    PayoutAccount,
    PayoutBatch,
)
from tests.concurrency import at_once
from tests.conftest import require
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def backdate(order, days):
    """As if the order had been paid ``days`` ago."""
    paid_at = NOW - timedelta(days=days)
    Order.objects.filter(pk=order.pk).update(paid_at=paid_at)
    with transaction.atomic(), ledger_guards.lifted():
        sale = LedgerTransaction.objects.filter(order=order, kind="sale")
        sale.update(created_at=paid_at)
        LedgerEntry.objects.filter(transaction__in=sale).update(
            created_at=paid_at, available_at=paid_at + timedelta(days=60)
        )


def sale(book, price, days_ago):
    order = services.place_order(
        buyer=UserFactory(), book=book, amount_cents=price, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=order.pk, amount_cents=price)
    backdate(order, days_ago)
    return order


def refund(order, days_ago):
    refunds.complete_refund(order_id=order.pk, gateway_refund_id=f"re_{order.pk}")
    with transaction.atomic(), ledger_guards.lifted():
        LedgerEntry.objects.filter(transaction__order=order, kind="refund").update(
            created_at=NOW - timedelta(days=days_ago)
        )


@pytest.fixture
def history():
    """Ada writes X alone and Y with Bob (60/40); Z is free."""
    ada, bob = AuthorFactory(display_name="Ada"), AuthorFactory(display_name="Bob")
    x = BookFactory(title="X", minimum_price_cents=99, authors=[ada])
    y = BookFactory(title="Y", minimum_price_cents=99, authors=[ada, bob])
    y.authorships.filter(author=ada).update(royalty_share=60)
    y.authorships.filter(author=bob).update(royalty_share=40)
    z = BookFactory(title="Z", minimum_price_cents=0, suggested_price_cents=0, authors=[ada])

    sale(x, 799, 10)  # the $7.99 edge: 80%, no fee -> 639
    sale(x, 798, 59)  # the $7.98 edge: 80% - 50c -> 588, one day inside the window
    sale(x, 2499, 61)  # 1999, one day past the window: available
    refund(sale(x, 1000, 5), days_ago=2)  # 800, refunded
    sale(y, 2000, 90)  # 1600: Ada 960, Bob 640
    sale(y, 99, 3)  # 29: Ada 17, Bob 12 (largest remainder)
    for _ in range(2):
        free = services.place_order(
            buyer=UserFactory(), book=z, amount_cents=0, checkout_token=uuid.uuid4()
        )
        Order.objects.filter(pk=free.pk).update(paid_at=NOW - timedelta(days=1))
    rebuild_daily()  # the history was backdated behind the ledger's back
    return {"ada": ada, "bob": bob, "x": x, "y": y, "z": z}


def figures(earnings):
    rows = {
        r.book.title: (
            r.copies,
            r.gross_cents,
            r.royalties_cents,
            r.refunds_cents,
            r.net_cents,
            r.free_copies,
        )
        for r in earnings.books
    }
    t = earnings.total
    rows["total"] = (
        t.copies,
        t.gross_cents,
        t.royalties_cents,
        t.refunds_cents,
        t.net_cents,
        t.free_copies,
    )
    return rows


def test_all_time_figures_to_the_cent(history):
    earnings = earnings_for(history["ada"], date_range("all"))

    #                copies gross  royalties refunds net   free
    assert figures(earnings) == {
        "X": (4, 5096, 4026, -800, 3226, 0),
        "Y": (2, 2099, 977, 0, 977, 0),
        "Z": (0, 0, 0, 0, 0, 2),
        "total": (6, 7195, 5003, -800, 4203, 2),
    }
    balances = earnings.balances
    assert (balances.pending_cents, balances.available_cents, balances.paid_out_cents) == (
        1244,
        2959,
        0,
    )


def test_last_30_days_leave_out_older_sales(history):
    earnings = earnings_for(history["ada"], date_range("30d"))

    assert figures(earnings) == {
        "X": (2, 1799, 1439, -800, 639, 0),
        "Y": (1, 99, 17, 0, 17, 0),
        "Z": (0, 0, 0, 0, 0, 2),
        "total": (3, 1898, 1456, -800, 656, 2),
    }
    # The chart shows royalties as earned, the later-refunded $10 sale included.
    assert sum(cents for _, cents in earnings.daily) == 639 + 800 + 17


def test_a_co_author_sees_only_their_share(history):
    earnings = earnings_for(history["bob"], date_range("all"))

    assert figures(earnings) == {"Y": (2, 2099, 652, 0, 652, 0), "total": (2, 2099, 652, 0, 652, 0)}
    assert (earnings.balances.pending_cents, earnings.balances.available_cents) == (12, 640)


def test_a_payout_takes_the_available_balance_and_shows_on_the_dashboard(
    history, django_capture_on_commit_callbacks, mailoutbox
):
    ada = history["ada"]
    PayoutAccount.objects.create(author=ada, method="paypal", paypal_email="ada@example.com")
    batch = payouts.create_payout_batch(threshold_cents=1000)
    payouts.create_payout_batch(period=batch.period, threshold_cents=1000)  # twice: nothing more

    payout = batch.payouts.get()
    assert (payout.author, payout.amount_cents, payout.destination) == (
        ada,
        2959,
        "ada@example.com",
    )
    balances = earnings_for(ada, date_range("all")).balances
    assert (balances.pending_cents, balances.available_cents, balances.paid_out_cents) == (
        1244,
        0,
        2959,
    )
    with django_capture_on_commit_callbacks(execute=True):
        payouts.mark_sent(payout_id=payout.pk, reference="PAYPAL-123")
    assert mailoutbox[-1].to == [ada.user.email] and "$29.59" in mailoutbox[-1].subject
    assert audit().ok


def test_bob_under_the_threshold_or_without_details_gets_no_payout(history):
    PayoutAccount.objects.create(
        author=history["ada"], method="paypal", paypal_email="ada@example.com"
    )
    batch = payouts.create_payout_batch(threshold_cents=1000)
    assert [p.author for p in batch.payouts.all()] == [history["ada"]]  # Bob: 640 and no details


def test_a_failed_payout_makes_the_money_available_again(history):
    PayoutAccount.objects.create(
        author=history["ada"], method="reference", reference="DE89370400440532013000"
    )
    payout = payouts.create_payout_batch(threshold_cents=1000).payouts.get()

    payouts.mark_failed(payout_id=payout.pk, reason="Account closed")

    balances = earnings_for(history["ada"], date_range("all")).balances
    assert (balances.available_cents, balances.paid_out_cents) == (2959, 0)
    assert audit().ok


def test_a_refund_after_the_payout_carries_a_negative_balance_forward(history):
    PayoutAccount.objects.create(
        author=history["ada"], method="paypal", paypal_email="ada@example.com"
    )
    payouts.create_payout_batch(threshold_cents=1000)
    settled = Order.objects.get(book=history["x"], amount_cents=2499)

    refunds.complete_refund(
        order_id=settled.pk, gateway_refund_id="re_late"
    )  # an admin refund, day 61

    balances = earnings_for(history["ada"], date_range("all")).balances
    assert balances.available_cents == -1999
    assert audit().ok


def test_payouts_run_on_the_first_of_each_month_in_utc(settings):
    schedule = settings.CELERY_BEAT_SCHEDULE["monthly-payouts"]["schedule"]

    assert isinstance(schedule, crontab) and settings.CELERY_TIMEZONE == "UTC"
    assert schedule.day_of_month == {1} and schedule.month_of_year == set(range(1, 13))
    assert len(schedule.hour) == 1 and len(schedule.minute) == 1  # once that day


def test_a_second_payout_run_for_the_month_pays_no_one_twice_and_says_so(history, settings):
    settings.PAYOUT_MINIMUM_CENTS = 1000
    PayoutAccount.objects.create(
        author=history["ada"], method="paypal", paypal_email="ada@example.com"
    )
    first, second = io.StringIO(), io.StringIO()

    call_command("create_payouts", stdout=first)
    call_command("create_payouts", stdout=second)  # beat ran twice, or an admin did

    assert "1 new payout(s)" in first.getvalue()
    assert "nothing new; 1 payout(s) made before this run" in second.getvalue()
    assert Payout.objects.filter(author=history["ada"]).count() == 1
    assert audit().ok


@pytest.mark.parametrize("period", ["2026-3", "March", "2026-13", "2026-03; x", "9999-01"])
def test_a_month_written_another_way_or_not_begun_makes_no_batch(history, period):
    with pytest.raises(CommandError, match=r"not a month|has not begun"):
        call_command("create_payouts", period=period)

    assert not PayoutBatch.objects.exists()


def test_the_database_refuses_a_batch_that_is_not_a_month(db):
    with pytest.raises(IntegrityError), transaction.atomic():
        PayoutBatch.objects.create(period="2026-3")


def test_a_failed_payout_is_paid_by_the_next_month_not_again_in_its_own(history):
    ada = history["ada"]
    PayoutAccount.objects.create(author=ada, method="paypal", paypal_email="ada@example.com")
    last_month = (timezone.now().replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    failed = payouts.run_payouts(period=last_month, threshold_cents=1000).created[0]
    payouts.mark_failed(payout_id=failed.pk, reason="PayPal account closed")

    assert payouts.run_payouts(period=last_month, threshold_cents=1000).nothing_new
    this_month = payouts.run_payouts(threshold_cents=1000)

    assert [(p.author, p.amount_cents) for p in this_month.created] == [(ada, 2959)]
    assert audit().ok


def test_two_payout_runs_at_once_make_one_batch_and_pay_each_author_once(history, transactional_db):
    """PostgreSQL: two schedulers (or a scheduler and an admin) start the month together."""
    require(connection.vendor == "postgresql", "concurrent inserts need PostgreSQL")
    for name in ("ada", "bob"):
        PayoutAccount.objects.create(
            author=history[name], method="paypal", paypal_email=f"{name}@example.com"
        )
    runs = at_once(*[lambda: payouts.run_payouts(threshold_cents=500)] * 2)

    assert len(runs) == 2 and PayoutBatch.objects.count() == 1
    assert sorted(p.author.display_name for r in runs for p in r.created) == ["Ada", "Bob"]
    assert Payout.objects.count() == 2
    assert audit().ok


def test_masked_payout_details():
    account = PayoutAccount(method="paypal", paypal_email="raphael@example.com")
    assert account.masked == "ra•••@example.com"
    assert (
        PayoutAccount(method="reference", reference="DE89370400440532013000").masked == "•••• 3000"
    )


def test_the_dashboard_page_and_csv(client, history):
    client.force_login(history["ada"].user)

    html = client.get(reverse("payments:earnings"), {"range": "all"}).content.decode()
    assert 'data-testid="total-net">$42.03<' in html and 'data-testid="pending">$12.44<' in html
    assert 'data-testid="available">$29.59<' in html and "<svg" in html

    response = client.get(reverse("payments:earnings_csv"), {"range": "all"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == [
        "date",
        "book",
        "type",
        "price_paid",
        "your_royalty",
        "order_status",
        "coupon",
        "sold_as",
    ]
    assert sorted(r[4] for r in rows[1:]) == sorted(
        ["6.39", "5.88", "19.99", "8.00", "-8.00", "9.60", "0.17"]
    )
    assert response["Content-Disposition"].startswith('attachment; filename="earnings-')


@pytest.mark.parametrize("who", ["anonymous", "reader", "other author"])
def test_no_one_else_sees_an_authors_earnings(client, history, who):
    if who == "reader":
        client.force_login(UserFactory())
    elif who == "other author":
        client.force_login(AuthorFactory().user)
    for name in ("payments:earnings", "payments:earnings_csv"):
        response = client.get(reverse(name), {"author": history["ada"].slug})
        if who == "anonymous":
            assert response.status_code == 302 and "/accounts/login/" in response["Location"]
        elif who == "reader":
            assert response.status_code == 403
        else:  # their own (empty) dashboard, never Ada's
            content = (
                b"".join(response.streaming_content) if response.streaming else response.content
            )
            assert b"$42.03" not in content and b"19.99" not in content


def test_staff_can_look_at_any_author(client, history):
    client.force_login(UserFactory(is_staff=True))
    html = client.get(
        reverse("payments:earnings"), {"author": history["ada"].slug, "range": "all"}
    ).content.decode()
    assert "Earnings of Ada" in html and "$42.03" in html


_BULK_SALES = """
    WITH buyers AS (  -- one reader per sale: a reader pays for a book once
        INSERT INTO accounts_user (password, is_superuser, is_staff, is_active, date_joined,
            email, name)
        SELECT '!', false, false, true, now(), 'bulk-' || gen_random_uuid() || '@example.com', ''
        FROM generate_series(1, %(n)s)
        RETURNING id
    ), orders AS (
        INSERT INTO payments_order (public_id, buyer_id, book_id, currency, amount_cents,
            royalty_cents, gateway, gateway_reference, checkout_token, status,
            failure_reason, created_at, paid_at, product, credits)
        SELECT gen_random_uuid(), buyer, %(book)s, 'USD', 1000, 800, 'demo', '',
            gen_random_uuid(), 'paid', '', t, t, 'book', 0
        FROM (SELECT id AS buyer,
                     now() - (id %% 700) * interval '1 day' - id * interval '1 second' AS t
              FROM buyers) AS times
        RETURNING id, paid_at
    ), txns AS (
        INSERT INTO payments_ledgertransaction (kind, order_id, memo, created_at)
        SELECT 'sale', id, '', paid_at FROM orders
        RETURNING id, created_at
    )
    INSERT INTO payments_ledgerentry (transaction_id, account, author_id, amount_cents,
        currency, created_at, kind, book_id, available_at)
    SELECT txns.id, e.account, e.author_id, e.amount, 'USD', txns.created_at, 'sale',
        %(book)s, txns.created_at + interval '60 days'
    FROM txns CROSS JOIN (VALUES ('processor', NULL::bigint, -1000),
        ('author', %(author)s::bigint, 800), ('platform', NULL::bigint, 200))
        AS e(account, author_id, amount)
"""


@pytest.mark.parametrize("many", [False, True], ids=["10-sales", "100000-sales"])
def test_the_dashboard_costs_the_same_queries_with_10_or_100000_sales(
    client, django_assert_num_queries, many
):
    """Sales inserted in bulk by SQL (PostgreSQL), as a busy author's history."""
    require(connection.vendor == "postgresql", "bulk SQL history needs PostgreSQL")
    author = AuthorFactory()
    book = BookFactory(minimum_price_cents=99, authors=[author])
    n = 100_000 if many else 10
    # A bulk load: one set-based balance check instead of a trigger per entry.
    with transaction.atomic(), ledger_guards.lifted(), connection.cursor() as cursor:
        cursor.execute(_BULK_SALES, {"book": book.pk, "author": author.pk, "n": n})
    rebuild_daily()
    client.force_login(author.user)
    # session, user (and, once per user-cache fill, whether they are an author),
    # author, books, own and cash daily sums, free copies, chart, balances (days,
    # today's boundary), sales count, the sales page, payouts
    with django_assert_num_queries(13):
        response = client.get(reverse("payments:earnings"), {"range": "all"})
    html = response.content.decode()
    assert f'data-testid="total-copies">{n}<' in html
    assert f'data-testid="total-royalties">${8 * n:,}.00<' in html
    assert audit().ok


def test_the_dashboard_figures_are_cached_until_the_authors_next_sale(
    client, django_assert_max_num_queries
):
    author = AuthorFactory()
    book = BookFactory(minimum_price_cents=99, authors=[author])
    sale(book, 1000, 1)
    rebuild_daily()
    client.force_login(author.user)
    client.get(reverse("payments:earnings"))

    with django_assert_max_num_queries(6):  # session, user, author, the sales page, payouts
        html = client.get(reverse("payments:earnings")).content.decode()
    assert 'data-testid="total-royalties">$8.00<' in html

    services.mark_paid(
        order_id=services.place_order(
            buyer=UserFactory(), book=book, amount_cents=2000, checkout_token=uuid.uuid4()
        ).pk,
        amount_cents=2000,
    )
    html = client.get(reverse("payments:earnings")).content.decode()
    assert 'data-testid="total-royalties">$24.00<' in html


def test_old_figures_are_recomputed_by_one_request_while_others_get_them(
    monkeypatch, django_assert_max_num_queries
):
    author = AuthorFactory()
    book = BookFactory(minimum_price_cents=99, authors=[author])
    sale(book, 1000, 1)
    range_ = date_range("all")
    monkeypatch.setattr(earnings, "DASHBOARD_CACHE_SECONDS", 0)  # always old at once
    first = earnings.cached_dashboard(author, range_)
    lock = first.cache_key.rsplit(":", 1)[0] + ":refreshing"

    cache.add(lock, 1)  # another request is recomputing: this one gets the old figures
    with django_assert_max_num_queries(0):
        assert earnings.cached_dashboard(author, range_) == first

    cache.delete(lock)  # nobody is: this request recomputes, under a new fragment key
    second = earnings.cached_dashboard(author, range_)
    assert second.cache_key != first.cache_key
    assert second.earnings.total.royalties_cents == first.earnings.total.royalties_cents == 800


@pytest.mark.parametrize(
    "key, days, unit, bars",
    [("30d", 30, "day", 30), ("year", 300, "week", 44), ("all", 700, "week", 101)],
)
def test_the_chart_has_a_bar_per_day_week_or_month(key, days, unit, bars):
    today = date(2026, 11, 25)
    range_ = date_range(key, today=today)
    start = range_.start or today - timedelta(days=days - 1)
    daily = [(start + timedelta(days=i), 100) for i in range(days) if start + timedelta(i) <= today]
    result = chart(daily, range_)
    assert result.unit == unit
    assert len(result.bars) == pytest.approx(bars, abs=1)
    # every cent is in one bar, and no bar leaves the 600-wide chart
    assert sum(bar.cents for bar in result.bars) == 100 * len(daily)
    assert all(bar.x >= 0 and bar.x + bar.width <= 600 for bar in result.bars)


def test_a_long_history_is_charted_per_month():
    today = date(2026, 11, 25)
    daily = [(date(2021, 1, 1), 500), (date(2023, 6, 15), 250), (today, 100)]
    result = chart(daily, date_range("all", today=today))
    assert result.unit == "month"
    assert [(bar.start, bar.cents) for bar in result.bars] == [
        (date(2021, 1, 1), 500),
        (date(2023, 6, 1), 250),
        (date(2026, 11, 1), 100),
    ]
    assert result.bars[0].height == 120 and result.bars[-1].x < 600


def test_an_empty_period_has_no_bars():
    assert chart([], date_range("all")).bars == []
