"""A book's sales count ("Bestselling"), kept off the sale path.

Adding one to ``Book.sales_count`` in the sale's transaction made every sale of a
book wait for the one before it to commit (one hot row per book: a launch sold
one book at a time). A sale now only marks its book as "to be counted" after it
commits; a task counts the book's sales from the orders and writes the figure.
However many sales land in the meantime, one count is queued per book at a time
(the mark is a cache ``add``), and the count is exact: it is computed, never
incremented, so a lost or repeated task cannot make it drift.

``sales_count`` is the number of copies sold through orders, paid or since
refunded, of any amount (``Order.objects.sold()``: a free copy is a sale of $0;
a duplicate payment that was refunded is not a sale). With Celery eager (the embedded default, the tests)
the count is written as soon as the sale commits; with a worker, within
``COUNT_DELAY`` seconds.
"""

from celery import shared_task
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce

from catalog.models import Book

from .models import Order

COUNT_DELAY = 5  # seconds: sales of one book within them are counted together


def _mark(book_id: int) -> str:
    return f"sales-count:queued:{book_id}"


def count_soon(book_id: int) -> None:
    """After the current transaction commits, make sure a count of the book's sales
    is queued (one at a time per book)."""

    def queue():
        if cache.add(_mark(book_id), 1, timeout=COUNT_DELAY * 12):
            count_book_sales.apply_async((book_id,), countdown=COUNT_DELAY)

    transaction.on_commit(queue, robust=True)


def sold_copies():
    return (
        Order.objects.sold()
        .filter(book_id=OuterRef("pk"))
        .order_by()
        .values("book_id")
        .annotate(n=Count("id"))
        .values("n")
    )


def count_sales(book_id: int) -> None:
    """Write the book's sales count from its orders. The mark goes first: a sale
    committed after this count began queues the next one.

    Two counts of one book may run at once (eager Celery runs each in the request
    that committed a sale; a count queued while another runs). The book's row is
    locked before counting, so they take turns, and each counts from a snapshot
    taken once the one before it has committed: the last to write counted the most.
    Without the lock, an UPDATE that had counted first but wrote last put its older,
    lower figure back (PostgreSQL re-checks a row updated meanwhile, not the count)."""
    cache.delete(_mark(book_id))
    with transaction.atomic():
        # NO KEY UPDATE, as the UPDATE itself takes: a sale's foreign keys to the book
        # (its order, ledger entries, entitlement) take KEY SHARE and never wait for it.
        list(Book.objects.select_for_update(no_key=True).filter(pk=book_id).values_list("pk"))
        Book.objects.filter(pk=book_id).update(sales_count=Coalesce(Subquery(sold_copies()), 0))


@shared_task(acks_late=True)
def count_book_sales(book_id: int) -> None:
    """Queued by ``count_soon`` after sales of the book commit, once at a time."""
    count_sales(book_id)
