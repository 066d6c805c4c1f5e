"""Royalty payouts: reserved in the ledger under a lock, sent by an admin."""

import re
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from catalog.models import Author
from core.mail import queue_templated_email

from . import ledger, signals
from .models import LedgerEntry, LedgerTransaction, Payout, PayoutAccount, PayoutBatch


def available_cents(author, *, now=None) -> int:
    now = now or timezone.now()
    return (
        LedgerEntry.objects.filter(author=author, available_at__lte=now).aggregate(
            s=Sum("amount_cents")
        )["s"]
        or 0
    )


def lock_authors(author_ids) -> None:
    """Lock author rows in a fixed order: payouts and refunds of the same author
    then happen one after the other, so a payout never exceeds what is available."""
    list(
        Author.objects.select_for_update()
        .filter(pk__in=list(author_ids))
        .order_by("pk")
        .values_list("pk")
    )


class PeriodError(ValueError):
    """The month asked for is not one to pay; fit to show."""


def parse_period(text: str, *, now=None) -> str:
    """ "2026-03" -> "2026-03"; anything but a month that has begun is refused."""
    text = text.strip()
    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", text):
        raise PeriodError(f"{text!r} is not a month: use YYYY-MM, like 2026-03.")
    if text > (now or timezone.now()).strftime("%Y-%m"):
        raise PeriodError(f"{text} has not begun: its payouts cannot be made yet.")
    return text


@dataclass(frozen=True)
class PayoutRun:
    batch: PayoutBatch
    created: list[Payout]

    @property
    def nothing_new(self) -> bool:
        return not self.created


def run_payouts(*, period: str | None = None, threshold_cents: int | None = None) -> PayoutRun:
    """The month's batch: one payout for every author whose available balance
    reaches the threshold and who has told us where to send it.

    At most one batch per month and one payout per author in it, whatever calls
    this (beat on the 1st, a retried task, an admin's ``create_payouts``, two of
    them at once): the database refuses duplicates (``PayoutBatch.period`` and
    ``payout_once_per_batch``), each author's payout is reserved under the author's
    lock, and a second run for the month creates nothing and says so
    (``created`` is empty). A payout that failed stays its month's; the reversed
    money is paid by the next month's batch."""
    now = timezone.now()
    period = parse_period(period, now=now) if period else now.strftime("%Y-%m")
    threshold = max(
        settings.PAYOUT_MINIMUM_CENTS if threshold_cents is None else threshold_cents, 1
    )
    # Concurrent first runs: the unique period makes one INSERT win; the other reads it.
    batch, _ = PayoutBatch.objects.get_or_create(period=period)
    candidates = (
        LedgerEntry.objects.filter(
            account="author", available_at__lte=now, author__payout_account__isnull=False
        )
        .values("author_id")
        .annotate(total=Sum("amount_cents"))
        .filter(total__gte=threshold)
        .values_list("author_id", flat=True)
    )
    created = [
        payout
        for author_id in list(candidates)
        if (payout := _reserve_payout(batch=batch, author_id=author_id, threshold=threshold))
    ]
    return PayoutRun(batch=batch, created=created)


def create_payout_batch(
    *, period: str | None = None, threshold_cents: int | None = None
) -> PayoutBatch:
    """``run_payouts``, for callers that only want the month's batch."""
    return run_payouts(period=period, threshold_cents=threshold_cents).batch


def _reserve_payout(*, batch, author_id, threshold) -> Payout | None:
    with transaction.atomic():
        lock_authors([author_id])
        if Payout.objects.filter(batch=batch, author_id=author_id).exists():
            return None
        author = Author.objects.get(pk=author_id)
        account = PayoutAccount.objects.filter(author=author).first()
        amount = available_cents(author)
        if account is None or not account.destination or amount < threshold:
            return None
        txn = ledger.record_payout(
            author=author, amount_cents=amount, memo=f"Payout {batch.period}"
        )
        return Payout.objects.create(
            batch=batch,
            author=author,
            amount_cents=amount,
            method=account.method,
            destination=account.destination,
            ledger_transaction=txn,
        )


def mark_sent(*, payout_id: int, reference: str, admin=None) -> bool:
    with transaction.atomic():
        payout = (
            Payout.objects.select_for_update(of=("self",))
            .select_related("author__user")
            .get(pk=payout_id)
        )
        if payout.status != Payout.Status.PENDING:
            return False
        payout.status = Payout.Status.SENT
        payout.external_reference = reference
        payout.sent_at = timezone.now()
        payout.decided_by = admin
        payout.save(update_fields=["status", "external_reference", "sent_at", "decided_by"])
        queue_templated_email(
            key=f"payout-sent:payout-{payout.pk}",
            to=payout.author.user.email,
            template="email/payout_sent",
            context={"payout": payout, "author": payout.author},
        )
        signals.payout_sent.send(sender=Payout, payout=payout)
    return True


def mark_failed(*, payout_id: int, reason: str, admin=None) -> bool:
    """The payout could not be sent: reverse its reservation so the money is available again."""
    with transaction.atomic():
        payout = Payout.objects.select_for_update().get(pk=payout_id)
        if payout.status != Payout.Status.PENDING:
            return False
        lock_authors([payout.author_id])
        ledger.record_reversal(
            payout.ledger_transaction,
            kind=LedgerTransaction.Kind.REVERSAL,
            memo=f"Failed payout {payout.pk}",
        )
        payout.status = Payout.Status.FAILED
        payout.failure_reason = reason[:300]
        payout.decided_by = admin
        payout.save(update_fields=["status", "failure_reason", "decided_by"])
    return True
