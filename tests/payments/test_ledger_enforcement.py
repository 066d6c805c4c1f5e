"""PostgreSQL itself keeps the ledger balanced and append-only (migration 0006):
whatever writes to it, raw SQL included. SQLite keeps the application check."""

import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import ProtectedError
from django.utils import timezone

from payments import ledger, ledger_guards, services
from payments.models import LedgerEntry, LedgerTransaction
from tests.conftest import require
from tests.factories import AuthorFactory, BookFactory, UserFactory


def require_postgresql():
    require(connection.vendor == "postgresql", "the ledger triggers are PostgreSQL's")


def entry(txn, account, amount, **fields):
    return LedgerEntry(
        transaction=txn,
        account=account,
        amount_cents=amount,
        kind=txn.kind,
        available_at=timezone.now(),
        **fields,
    )


def write(*amounts, txn=None):
    """Bulk-create entries on the processor and the platform, as one commit."""
    with transaction.atomic():
        txn = txn or LedgerTransaction.objects.create(kind="sale", memo="by hand")
        accounts = ["processor", "platform"]
        LedgerEntry.objects.bulk_create(
            [entry(txn, accounts[i % 2], amount) for i, amount in enumerate(amounts)]
        )
    return txn


_RAW_TRANSACTION = """
    INSERT INTO payments_ledgertransaction (kind, memo, created_at)
    VALUES ('sale', 'raw', now()) RETURNING id
"""
_RAW_ENTRY = """
    INSERT INTO payments_ledgerentry
        (transaction_id, account, amount_cents, currency, created_at, kind, available_at)
    VALUES (%s, %s, %s, 'USD', now(), 'sale', now())
"""


@pytest.fixture
def paid_sale():
    author = AuthorFactory()
    book = BookFactory(minimum_price_cents=99, authors=[author])
    order = services.place_order(
        buyer=UserFactory(), book=book, amount_cents=2000, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=order.pk, amount_cents=2000)
    return order


@pytest.mark.django_db(transaction=True)
def test_unbalanced_entries_written_by_raw_sql_are_refused_at_commit():
    require_postgresql()
    with (
        pytest.raises(IntegrityError, match="does not balance: its entries sum to 1 cents"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(_RAW_TRANSACTION)
        txn_id = cursor.fetchone()[0]
        cursor.execute(_RAW_ENTRY, [txn_id, "processor", -2000])
        cursor.execute(_RAW_ENTRY, [txn_id, "platform", 2001])

    assert not LedgerTransaction.objects.exists()
    assert not LedgerEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_unbalanced_entries_bulk_created_are_refused_at_commit():
    require_postgresql()
    with pytest.raises(IntegrityError, match="sum to -5 cents"):
        write(-2000, 1995)

    assert not LedgerEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_transaction_may_be_unbalanced_until_its_last_entry_and_then_commits():
    require_postgresql()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_RAW_TRANSACTION)
        txn_id = cursor.fetchone()[0]
        cursor.execute(_RAW_ENTRY, [txn_id, "processor", -2000])
        cursor.execute(_RAW_ENTRY, [txn_id, "platform", 400])
        cursor.execute(_RAW_ENTRY, [txn_id, "platform", 1600])

    assert sorted(LedgerEntry.objects.values_list("amount_cents", flat=True)) == [-2000, 400, 1600]


@pytest.mark.django_db(transaction=True)
def test_an_entry_added_later_to_a_committed_transaction_must_balance_it_too():
    require_postgresql()
    txn = write(-2000, 2000)

    with pytest.raises(IntegrityError, match=f"ledger transaction {txn.pk} does not balance"):
        write(7, txn=txn)

    assert LedgerEntry.objects.filter(transaction=txn).count() == 2


@pytest.mark.django_db(transaction=True)
def test_the_purchase_flow_commits_through_the_trigger(paid_sale):
    require_postgresql()
    assert paid_sale.ledger_transactions.get().entries.count() == 3
    assert ledger.audit().ok


@pytest.mark.django_db
def test_ledger_entries_cannot_be_updated_or_deleted(paid_sale):
    require_postgresql()
    entries = LedgerEntry.objects.filter(transaction__order=paid_sale)
    before = sorted(entries.values_list("id", "amount_cents"))

    with (
        pytest.raises(IntegrityError, match=r"UPDATE of payments_ledgerentry .* append-only"),
        transaction.atomic(),
    ):
        entries.filter(account="platform").update(amount_cents=0)
    with (
        pytest.raises(IntegrityError, match=r"DELETE of payments_ledgerentry .* append-only"),
        transaction.atomic(),
    ):
        entries.delete()
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("UPDATE payments_ledgerentry SET available_at = now()")

    assert sorted(entries.values_list("id", "amount_cents")) == before


@pytest.mark.django_db
def test_ledger_transactions_cannot_be_updated_or_deleted(paid_sale):
    require_postgresql()
    sale = LedgerTransaction.objects.get(order=paid_sale)

    with (
        pytest.raises(IntegrityError, match="UPDATE of payments_ledgertransaction"),
        transaction.atomic(),
    ):
        LedgerTransaction.objects.filter(pk=sale.pk).update(memo="edited")
    with (
        pytest.raises(IntegrityError, match="DELETE of payments_ledgertransaction"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM payments_ledgertransaction WHERE id = %s", [sale.pk])

    sale.refresh_from_db()
    assert sale.memo == f"Order {paid_sale.pk}"


@pytest.mark.django_db
def test_deleting_a_book_an_author_or_a_buyer_with_sales_is_refused(paid_sale):
    """No cascade reaches the ledger: the models PROTECT it, on every database."""
    author = paid_sale.book.authorships.get().author
    for doomed in (paid_sale.book, author, author.user, paid_sale.buyer):
        with pytest.raises(ProtectedError), transaction.atomic():
            doomed.delete()

    assert LedgerEntry.objects.filter(transaction__order=paid_sale).count() == 3


@pytest.mark.django_db
def test_the_application_refuses_an_unbalanced_transaction_on_any_database():
    now = timezone.now()
    with pytest.raises(ledger.UnbalancedTransaction, match="sum to 1"):
        ledger._write(
            "sale",
            entries=[
                LedgerEntry(account="processor", amount_cents=-100, available_at=now),
                LedgerEntry(account="platform", amount_cents=101, available_at=now),
            ],
        )
    assert not LedgerTransaction.objects.exists()


@pytest.mark.django_db
def test_maintenance_may_backdate_inside_lifted_and_the_guards_come_back(paid_sale):
    require_postgresql()
    entries = LedgerEntry.objects.filter(transaction__order=paid_sale)
    earlier = timezone.now() - timedelta(days=3)

    with transaction.atomic(), ledger_guards.lifted():
        entries.update(created_at=earlier)

    assert set(entries.values_list("created_at", flat=True)) == {earlier}
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        entries.update(created_at=timezone.now())


@pytest.mark.django_db
def test_lifted_still_refuses_to_leave_a_transaction_unbalanced(paid_sale):
    require_postgresql()
    with (
        pytest.raises(ledger.UnbalancedTransaction, match="sums to 1 cents"),
        transaction.atomic(),
        ledger_guards.lifted(),
    ):
        LedgerEntry.objects.filter(transaction__order=paid_sale, account="processor").update(
            amount_cents=-1999
        )

    assert (
        LedgerEntry.objects.get(transaction__order=paid_sale, account="processor").amount_cents
        == -2000
    )
