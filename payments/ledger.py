"""The double-entry ledger: every money event is a transaction whose entries sum to zero."""

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Q, Sum
from django.utils import timezone

from .models import LedgerEntry, LedgerTransaction, Order
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
    return txn


def _sale_entry(order, account, amount, author=None) -> LedgerEntry:
    return LedgerEntry(
        account=account,
        author=author,
        amount_cents=amount,
        currency=order.currency,
        book_id=order.book_id,
        available_at=order.paid_at + timedelta(days=settings.REFUND_WINDOW_DAYS),
    )


def record_sale(order: Order) -> LedgerTransaction:
    """Cash in from the processor; the royalty split between co-authors by their
    shares (exact to the cent); the platform keeps the remainder."""
    authorships = list(order.book.authorships.select_related("author").order_by("position", "id"))
    shares = [a.royalty_share for a in authorships]
    parts = split_royalty(order.royalty_cents, shares) if authorships else []
    entries = [_sale_entry(order, Account.PROCESSOR, -order.amount_cents)]
    entries += [
        _sale_entry(order, Account.AUTHOR, part, author=a.author)
        for a, part in zip(authorships, parts, strict=True)
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

    settled = [Order.Status.PAID, Order.Status.REFUNDED]
    mismatched = (
        Order.objects.annotate(
            sales=Count("ledger_transactions", filter=Q(ledger_transactions__kind="sale"))
        )
        .filter((Q(status__in=settled) & ~Q(sales=1)) | (~Q(status__in=settled) & Q(sales__gt=0)))
        .values_list("pk", "status", "sales")[:1000]
    )
    report.problems += [
        f"order {pk} is {status} but has {n} sale transactions" for pk, status, n in mismatched
    ]
    sale_totals = (
        LedgerEntry.objects.filter(transaction__kind="sale", account=Account.PROCESSOR)
        .values_list("transaction__order_id", "transaction__order__amount_cents")
        .annotate(total=Sum("amount_cents"))
    )
    for order_id, amount, total in sale_totals:
        if -total != amount:
            report.problems.append(
                f"order {order_id}: sale captured {-total}, order amount {amount}"
            )
    return report


def author_balance(author) -> int:
    return LedgerEntry.objects.filter(author=author).aggregate(s=Sum("amount_cents"))["s"] or 0
