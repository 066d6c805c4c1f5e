"""The double-entry ledger: every money event is a transaction whose entries sum to zero."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from catalog.models import BookAuthor
from core.cache import incr_or_create
from core.compiled import CompiledQuery

from .models import (
    CreditEntry,
    CreditLot,
    LedgerDaily,
    LedgerEntry,
    LedgerTransaction,
    Order,
    Refund,
)
from .royalties import split_royalty

Account = LedgerEntry.Account


class UnbalancedTransaction(ValueError):
    pass


def _write(kind, *, order=None, reverses=None, memo="", entries) -> LedgerTransaction:
    """Write one transaction; refuses entries that do not sum to zero."""
    if sum(e.amount_cents for e in entries) != 0:
        raise UnbalancedTransaction(f"{kind} entries sum to {sum(e.amount_cents for e in entries)}")
    txn = LedgerTransaction.objects.create(kind=kind, order=order, reverses=reverses, memo=memo)
    for entry in entries:
        entry.transaction = txn
        entry.kind = kind
    LedgerEntry.objects.bulk_create(entries)
    _add_to_daily(entries, shard=txn.pk % DAILY_SHARDS)
    forget_earnings({e.author_id for e in entries if e.author_id})
    return txn


def _earnings_generation_key(author_id: int) -> str:
    return f"earnings-generation:{author_id}"


def earnings_generation(author_id: int) -> int:
    return cache.get(_earnings_generation_key(author_id), 0)


def forget_earnings(author_ids) -> None:
    """Cached dashboards of these authors are out of date: now, and again after
    commit (a dashboard computed in between must not outlive the commit)."""

    def bump():
        for author_id in author_ids:
            incr_or_create(_earnings_generation_key(author_id))

    if author_ids:
        bump()
        transaction.on_commit(bump, robust=True)


# Rows each daily sum is split over (LedgerDaily.shard): concurrent sales of one
# author or book land on different rows instead of queueing for one.
DAILY_SHARDS = 16

_UPSERT_DAILY = """
    INSERT INTO payments_ledgerdaily
        (account, author_key, book_key, kind, day, available_day, shard, amount_cents, entries)
    VALUES {rows}
    ON CONFLICT (account, author_key, book_key, kind, day, available_day, shard) DO UPDATE SET
        amount_cents = payments_ledgerdaily.amount_cents + EXCLUDED.amount_cents,
        entries = payments_ledgerdaily.entries + EXCLUDED.entries
"""


def _add_to_daily(entries, *, shard: int = 0) -> None:
    """Add the entries to the daily sums, in the caller's transaction: one upsert
    statement (concurrent writers add, never overwrite), on the transaction's shard."""
    sums = {}
    for e in entries:
        created = timezone.localdate(e.created_at or timezone.now())
        key = (
            e.account,
            e.author_id or 0,
            e.book_id or 0,
            e.kind,
            created,
            timezone.localdate(e.available_at),
            shard,
        )
        amount, count = sums.get(key, (0, 0))
        sums[key] = (amount + e.amount_cents, count + 1)
    if not sums:
        return
    # Rows in a fixed order: two writers on the same rows never deadlock.
    rows = sorted(sums)
    sql = _UPSERT_DAILY.format(rows=", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(rows)))
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for key in rows for value in (*key, *sums[key])])


REBUILD_DAILY = """
    INSERT INTO payments_ledgerdaily
        (account, author_key, book_key, kind, day, available_day, shard, amount_cents, entries)
    SELECT account, COALESCE(author_id, 0), COALESCE(book_id, 0), kind,
           {day}, {available_day}, 0, SUM(amount_cents), COUNT(*)
    FROM payments_ledgerentry
    GROUP BY 1, 2, 3, 4, 5, 6
"""


def rebuild_daily() -> int:
    """Recompute the daily sums from the entries (after a bulk load, or to repair)."""
    if connection.vendor == "postgresql":
        day, available = (
            "(created_at AT TIME ZONE 'UTC')::date",
            "(available_at AT TIME ZONE 'UTC')::date",
        )
    else:
        day, available = "date(created_at)", "date(available_at)"
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM payments_ledgerdaily")
        cursor.execute(REBUILD_DAILY.format(day=day, available_day=available))
        return cursor.rowcount


def _sale_entry(order, account, amount, author_id=None) -> LedgerEntry:
    return LedgerEntry(
        account=account,
        author_id=author_id,
        amount_cents=amount,
        currency=order.currency,
        book_id=order.book_id,
        available_at=order.paid_at + timedelta(days=settings.REFUND_WINDOW_DAYS),
    )


def _author_shares(book_id):
    authorships = BookAuthor.objects.filter(book_id=book_id).order_by("position", "id")
    return authorships.values_list("author_id", "royalty_share")


_AUTHOR_SHARES = CompiledQuery(_author_shares, arity=1)  # once per sale


def record_sale(order: Order) -> LedgerTransaction:
    """Cash in from the processor (or out of the reader's credits, for a book bought
    with a credit); the royalty split between co-authors by their shares (exact to
    the cent); the platform keeps the remainder."""
    authorships = _AUTHOR_SHARES.rows(order.book_id)  # (author id, share), in byline order
    shares = [share for _, share in authorships]
    parts = split_royalty(order.royalty_cents, shares) if authorships else []
    paid_from = Account.CREDITS if order.gateway == "credit" else Account.PROCESSOR
    entries = [_sale_entry(order, paid_from, -order.amount_cents)]
    entries += [
        _sale_entry(order, Account.AUTHOR, part, author_id=author_id)
        for (author_id, _), part in zip(authorships, parts, strict=True)
        if part
    ]
    platform = order.amount_cents - sum(parts)
    if platform:
        entries.append(_sale_entry(order, Account.PLATFORM, platform))
    if order.amount_cents == 0:
        entries = []  # a free copy moves no money; it is still recorded as a transaction
    return _write(
        LedgerTransaction.Kind.SALE, order=order, memo=f"Order {order.pk}", entries=entries
    )


def record_double_payment(order: Order) -> LedgerTransaction:
    """Cash captured for a book the reader owned already: no sale, no royalty; the
    platform holds it until the automatic refund reverses this transaction."""
    now = timezone.now()
    entries = [
        LedgerEntry(
            account=account,
            amount_cents=amount,
            currency=order.currency,
            available_at=now,  # no book: no author's figures ever count it
        )
        for account, amount in (
            (Account.PROCESSOR, -order.amount_cents),
            (Account.PLATFORM, order.amount_cents),
        )
    ]
    return _write(
        LedgerTransaction.Kind.DOUBLE,
        order=order,
        memo=f"Order {order.pk}: paid twice, to refund",
        entries=entries,
    )


def _cash_entries(amount_cents, *, to_credits: bool, currency="USD", partner=Account.PROCESSOR):
    """Cash between ``partner`` and the readers' credits account, available at once."""
    now = timezone.now()
    sign = 1 if to_credits else -1
    return [
        LedgerEntry(
            account=partner, amount_cents=-sign * amount_cents, currency=currency, available_at=now
        ),
        LedgerEntry(
            account=Account.CREDITS,
            amount_cents=sign * amount_cents,
            currency=currency,
            available_at=now,
        ),
    ]


def record_credit_purchase(order: Order) -> LedgerTransaction:
    """A pack or a membership period paid: the cash is held for the reader's credits."""
    return _write(
        LedgerTransaction.Kind.SALE,
        order=order,
        memo=f"Order {order.pk}: {order.credits} credits",
        entries=_cash_entries(order.amount_cents, to_credits=True, currency=order.currency),
    )


def record_credit_refund(order: Order, *, refunded_cents: int, withdrawn_cents: int):
    """Unused credits refunded as money: the processor pays back ``refunded_cents``;
    the credits account releases ``withdrawn_cents`` (their value); if the gateway
    refunded a different amount (by hand, at the provider), the platform bears it."""
    entries = [
        LedgerEntry(
            account=Account.PROCESSOR,
            amount_cents=refunded_cents,
            currency=order.currency,
            available_at=timezone.now(),
        ),
        LedgerEntry(
            account=Account.CREDITS,
            amount_cents=-withdrawn_cents,
            currency=order.currency,
            available_at=timezone.now(),
        ),
    ]
    if refunded_cents != withdrawn_cents:
        entries.append(
            LedgerEntry(
                account=Account.PLATFORM,
                amount_cents=withdrawn_cents - refunded_cents,
                currency=order.currency,
                available_at=timezone.now(),
            )
        )
    entries = [e for e in entries if e.amount_cents]
    return _write(
        LedgerTransaction.Kind.REFUND,
        order=order,
        memo=f"Refund of order {order.pk}: unused credits",
        entries=entries,
    )


def record_credit_expiry(value_cents: int, *, memo="") -> LedgerTransaction:
    """Credits over the membership rollover cap expired: their cash is the platform's."""
    return _write(
        LedgerTransaction.Kind.EXPIRY,
        memo=memo,
        entries=_cash_entries(value_cents, to_credits=False, partner=Account.PLATFORM),
    )


def record_reversal(original: LedgerTransaction, *, kind, memo="") -> LedgerTransaction:
    """The exact opposite of ``original`` (a refund reverses its sale). Its entries
    keep the original's dates, so a refund inside the window reduces what is
    pending, and one after it reduces what is available."""
    entries = [
        LedgerEntry(
            account=e.account,
            author_id=e.author_id,
            amount_cents=-e.amount_cents,
            currency=e.currency,
            book_id=e.book_id,
            available_at=e.available_at,
        )
        for e in original.entries.all()
    ]
    return _write(kind, order=original.order, reverses=original, memo=memo, entries=entries)


def record_payout(*, author, amount_cents: int, currency="USD", memo="") -> LedgerTransaction:
    """Royalties leave the store for the author: their balance goes down by the amount."""
    now = timezone.now()
    return _write(
        LedgerTransaction.Kind.PAYOUT,
        memo=memo,
        entries=[
            LedgerEntry(
                account=Account.AUTHOR,
                author=author,
                amount_cents=-amount_cents,
                currency=currency,
                available_at=now,
            ),
            LedgerEntry(
                account=Account.PROCESSOR,
                amount_cents=amount_cents,
                currency=currency,
                available_at=now,
            ),
        ],
    )


@dataclass
class AuditReport:
    problems: list[str] = field(default_factory=list)
    transactions: int = 0
    captured_cents: int = 0
    held_cents: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def audit() -> AuditReport:
    """Check the ledger's invariants; each problem is a line a person can act on."""
    report = AuditReport(transactions=LedgerTransaction.objects.count())
    unbalanced = (
        LedgerTransaction.objects.annotate(total=Sum("entries__amount_cents"))
        .exclude(Q(total=0) | Q(total__isnull=True))
        .values_list("pk", "kind", "total")
    )
    report.problems += [
        f"transaction {pk} ({kind}) sums to {total}, not 0" for pk, kind, total in unbalanced
    ]

    processor = (
        LedgerEntry.objects.filter(account=Account.PROCESSOR).aggregate(s=Sum("amount_cents"))["s"]
        or 0
    )
    held = (
        LedgerEntry.objects.exclude(account=Account.PROCESSOR).aggregate(s=Sum("amount_cents"))["s"]
        or 0
    )
    report.captured_cents, report.held_cents = -processor, held
    if -processor != held:
        report.problems.append(
            f"captured net of refunds and payouts {-processor} != held by authors and platform {held}"
        )

    # Each order that moved money has exactly one transaction that took it in: a
    # sale, or (paid for a book the reader owned) a double payment held to refund.
    settled = [Order.Status.PAID, Order.Status.REFUNDED, Order.Status.DUPLICATE]
    taken_in = Q(ledger_transactions__kind__in=["sale", "double"])
    mismatched = (
        Order.objects.annotate(sales=Count("ledger_transactions", filter=taken_in))
        .filter((Q(status__in=settled) & ~Q(sales=1)) | (~Q(status__in=settled) & Q(sales__gt=0)))
        .values_list("pk", "status", "sales")[:1000]
    )
    report.problems += [
        f"order {pk} is {status} but has {n} sale transactions" for pk, status, n in mismatched
    ]
    stuck = Order.objects.filter(
        ledger_transactions__kind="double", status=Order.Status.PAID
    ).values_list("pk", flat=True)[:1000]
    report.problems += [f"order {pk} was paid twice but is booked as a sale" for pk in stuck]
    daily = LedgerDaily.objects.values("account").annotate(s=Sum("amount_cents"), n=Sum("entries"))
    entries = LedgerEntry.objects.values("account").annotate(s=Sum("amount_cents"), n=Count("id"))
    daily_by_account = {row["account"]: (row["s"], row["n"]) for row in daily}
    for row in entries:
        if daily_by_account.get(row["account"]) != (row["s"], row["n"]):
            report.problems.append(
                f"daily sums of {row['account']} {daily_by_account.get(row['account'])} "
                f"!= entries {(row['s'], row['n'])}: run manage.py rebuild_ledger_daily"
            )
    report.problems += _audit_credits()
    sale_totals = (
        LedgerEntry.objects.filter(
            transaction__kind="sale", account__in=[Account.PROCESSOR, Account.CREDITS]
        )
        .exclude(account=Account.CREDITS, amount_cents__gt=0)  # a pack's credits side
        .values_list("transaction__order_id", "transaction__order__amount_cents")
        .annotate(total=Sum("amount_cents"))
    )
    for order_id, amount, total in sale_totals:
        if -total != amount:
            report.problems.append(
                f"order {order_id}: sale captured {-total}, order amount {amount}"
            )
    return report


def _refunds_in_flight_cents() -> int:
    """Cash of unused credits taken out for refunds the gateway has not completed
    (the ledger still holds it in the credits account): for the audit."""
    taken = CreditEntry.objects.filter(
        kind=CreditEntry.Kind.REFUNDED,
        order__refund__status__in=[
            Refund.Status.APPROVED,
            Refund.Status.PROCESSING,
            Refund.Status.FAILED,
            Refund.Status.REQUESTED,
        ],
    ).aggregate(v=Coalesce(Sum("value_cents"), 0))["v"]
    return -taken


def _audit_credits() -> list[str]:
    """The credits account holds exactly the cash value of the readers' unused
    credits (plus unused credits on their way back as refunds), and no lot is
    overspent."""
    problems = []
    held = LedgerEntry.objects.filter(account=Account.CREDITS).aggregate(s=Sum("amount_cents"))
    owed = CreditEntry.objects.aggregate(s=Sum("value_cents"))
    held, owed = held["s"] or 0, (owed["s"] or 0) + _refunds_in_flight_cents()
    if held != owed:
        problems.append(f"credits account holds {held}, readers' unused credits are worth {owed}")
    overspent = (
        CreditLot.objects.annotate(left=Sum("entries__credits"), value=Sum("entries__value_cents"))
        .filter(Q(left__lt=0) | Q(value__lt=0) | Q(left=0, value__gt=0))
        .values_list("pk", "left", "value")[:1000]
    )
    problems += [
        f"credit lot {pk} has {left} credits worth {value} left" for pk, left, value in overspent
    ]
    return problems
