"""A sale writes no row that every other sale of the same book or author writes too.

The daily sums are split over shards (LedgerDaily.shard) and the book's sales
count is computed after commit (payments.sales_counts): concurrent sales of one
book do not queue behind each other's transaction, and every figure stays exact.
"""

import uuid

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from catalog.models import Book
from payments import services
from payments.ledger import DAILY_SHARDS, audit, rebuild_daily
from payments.models import LedgerDaily, LedgerEntry
from tests.concurrency import at_once
from tests.conftest import require
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db


def buy(reader, book, cents=1999):
    order = services.place_order(
        buyer=reader, book=book, amount_cents=cents, checkout_token=uuid.uuid4()
    )
    if cents:  # a $0 order is fulfilled when it is placed
        assert services.mark_paid(order_id=order.pk, amount_cents=cents)
    return order


def test_a_sale_updates_no_book_row_and_sums_its_day_in_one_statement(
    django_capture_on_commit_callbacks,
):
    book = BookFactory()
    order = services.place_order(
        buyer=UserFactory(), book=book, amount_cents=1999, checkout_token=uuid.uuid4()
    )
    with (
        django_capture_on_commit_callbacks(execute=False) as callbacks,
        CaptureQueriesContext(connection) as queries,
    ):
        assert services.mark_paid(order_id=order.pk, amount_cents=1999)

    sql = [q["sql"] for q in queries.captured_queries]
    assert not [s for s in sql if s.startswith('UPDATE "catalog_book"')]
    assert len([s for s in sql if "INSERT INTO payments_ledgerdaily" in s]) == 1
    assert Book.objects.get(pk=book.pk).sales_count == 0  # not yet: counted after commit

    for callback in callbacks:
        callback()
    assert Book.objects.get(pk=book.pk).sales_count == 1


def test_the_sales_count_is_exact_and_counts_copies_sold_since_refunded(
    django_capture_on_commit_callbacks,
):
    book = BookFactory(minimum_price_cents=0)
    with django_capture_on_commit_callbacks(execute=True):
        orders = [buy(UserFactory(), book) for _ in range(3)]
        buy(UserFactory(), book, cents=0)  # a free copy is a sale too
    assert Book.objects.get(pk=book.pk).sales_count == 4

    # A count written wrong (by hand, or a lost task) is put right by the next sale.
    Book.objects.filter(pk=book.pk).update(sales_count=99)
    orders[0].status = "refunded"
    orders[0].save(update_fields=["status"])
    with django_capture_on_commit_callbacks(execute=True):
        buy(UserFactory(), book)
    assert Book.objects.get(pk=book.pk).sales_count == 5


def test_sales_of_one_author_spread_over_shards_and_sum_to_the_same_figures():
    author = AuthorFactory()
    books = [BookFactory(authors=[author]) for _ in range(2)]
    for i in range(2 * DAILY_SHARDS):
        buy(UserFactory(), books[i % 2], cents=1000 + i)

    rows = LedgerDaily.objects.filter(account="author", author_key=author.pk, kind="sale")
    assert rows.values("shard").distinct().count() == DAILY_SHARDS
    sharded = rows.aggregate(s=Sum("amount_cents"), n=Sum("entries"))
    entries = LedgerEntry.objects.filter(account="author", author=author, kind="sale")
    assert (sharded["s"], sharded["n"]) == (
        entries.aggregate(s=Sum("amount_cents"))["s"],
        entries.count(),
    )
    assert audit().ok

    # A rebuild (after a bulk load) puts each sum in one shard: the same figures.
    rebuild_daily()
    rebuilt = LedgerDaily.objects.filter(account="author", author_key=author.pk, kind="sale")
    assert set(rebuilt.values_list("shard", flat=True)) == {0}
    assert rebuilt.aggregate(s=Sum("amount_cents"), n=Sum("entries")) == sharded
    assert audit().ok


@pytest.mark.django_db(transaction=True)
def test_a_launch_of_one_book_sells_every_copy_once_with_an_exact_count():
    require(connection.vendor == "postgresql", "concurrent sales need PostgreSQL")
    book = BookFactory()
    readers = [UserFactory() for _ in range(8)]

    orders = at_once(*[lambda r=r: buy(r, book) for r in readers])

    assert len({o.pk for o in orders}) == len(readers)
    assert Book.objects.get(pk=book.pk).sales_count == len(readers)
    assert audit().ok


def test_a_second_payment_for_a_book_the_reader_owns_is_not_counted_as_a_sale(
    django_capture_on_commit_callbacks,
):
    book, reader = BookFactory(), UserFactory()
    tabs = [
        services.place_order(
            buyer=reader, book=book, amount_cents=1999, checkout_token=uuid.uuid4()
        )
        for _ in range(2)
    ]
    with django_capture_on_commit_callbacks(execute=True):  # the double is refunded after commit
        for order in tabs:
            assert services.mark_paid(order_id=order.pk, amount_cents=1999)
    tabs[1].refresh_from_db()
    assert tabs[1].status == "refunded"  # the double payment, given back
    assert Book.objects.get(pk=book.pk).sales_count == 1


@pytest.mark.django_db(transaction=True)
def test_a_count_that_waits_for_another_counts_the_sales_committed_meanwhile():
    # Two counts of one book at once: the one that writes last must have counted last.
    # Another count holds the book's row; a sale commits while this count waits (and
    # does not wait itself: its foreign keys to the book do not need that lock).
    import threading
    import time

    from django.db import transaction
    from django.utils.timezone import now

    from payments.ledger import record_sale
    from payments.models import Order
    from payments.sales_counts import count_sales

    require(connection.vendor == "postgresql", "row locks between connections need PostgreSQL")
    book = BookFactory()
    buy(UserFactory(), book)
    late = services.place_order(
        buyer=UserFactory(), book=book, amount_cents=1999, checkout_token=uuid.uuid4()
    )
    locked, release, counted = threading.Event(), threading.Event(), threading.Event()

    def another_count_in_progress():
        try:
            with transaction.atomic():
                list(Book.objects.select_for_update(no_key=True).filter(pk=book.pk))
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    def this_count():
        try:
            count_sales(book.pk)
            counted.set()
        finally:
            connection.close()

    holder = threading.Thread(target=another_count_in_progress)
    holder.start()
    counter = threading.Thread(target=this_count)
    try:
        assert locked.wait(10)
        counter.start()
        time.sleep(0.5)
        assert not counted.is_set()  # it waits for the row
        with transaction.atomic():  # a sale commits now (its own count is not run here)
            Order.objects.filter(pk=late.pk).update(status=Order.Status.PAID, paid_at=now())
            late.refresh_from_db()
            record_sale(late)
    finally:
        release.set()
        holder.join(10)
        if counter.ident is not None:  # started
            counter.join(10)

    assert counted.is_set()
    assert Book.objects.get(pk=book.pk).sales_count == 2
