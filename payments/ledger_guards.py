"""The ledger rules PostgreSQL enforces (migration 0006), and the one maintenance door.

On PostgreSQL a deferred constraint trigger refuses, at commit, a ledger transaction
whose entries do not sum to zero, and row triggers refuse any UPDATE or DELETE of
ledger entries and transactions. SQLite has neither; there `ledger._write` is the
check (it runs on PostgreSQL too, so the application error comes first).

Bulk loads and backdated demo data write the ledger behind `ledger._write`'s back;
they do it inside `lifted()`, which switches the triggers off for the rest of the
current transaction only and, before handing back, checks every transaction still
balances. Nothing else should need it.
"""

from contextlib import contextmanager

from django.db import connection
from django.db.transaction import TransactionManagementError

from .ledger import UnbalancedTransaction

TRIGGERS = (
    ("payments_ledgerentry", "payments_ledger_balanced"),
    ("payments_ledgerentry", "payments_ledgerentry_append_only"),
    ("payments_ledgertransaction", "payments_ledgertransaction_append_only"),
)

_UNBALANCED = """
    SELECT transaction_id, SUM(amount_cents) FROM payments_ledgerentry
    GROUP BY transaction_id HAVING SUM(amount_cents) <> 0
    ORDER BY transaction_id LIMIT 1
"""


def enforced_by_database() -> bool:
    return connection.vendor == "postgresql"


def disable(cursor) -> None:
    """Switch the ledger triggers off for the rest of ``cursor``'s transaction.

    The pending deferred checks run first (ALTER TABLE refuses a table with
    pending trigger events), so what was written before is still checked."""
    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    for table, trigger in TRIGGERS:
        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {trigger}")


def enable(cursor) -> None:
    """Switch the ledger triggers back on, after checking every transaction balances."""
    cursor.execute(_UNBALANCED)
    unbalanced = cursor.fetchone()
    if unbalanced:
        raise UnbalancedTransaction(
            f"ledger transaction {unbalanced[0]} sums to {unbalanced[1]} cents, not 0"
        )
    for table, trigger in TRIGGERS:
        cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {trigger}")
    cursor.execute("SET CONSTRAINTS ALL DEFERRED")


@contextmanager
def lifted():
    """Maintenance only: ledger rows may be written and changed inside this block.

    Must run inside ``transaction.atomic()``: the triggers are off for this
    transaction alone (other sessions wait on the table lock meanwhile) and an
    error rolls the switch back with everything else."""
    if not enforced_by_database():
        yield
        return
    if not connection.in_atomic_block:
        raise TransactionManagementError("ledger_guards.lifted() needs transaction.atomic()")
    with connection.cursor() as cursor:
        disable(cursor)
    yield
    with connection.cursor() as cursor:
        enable(cursor)
