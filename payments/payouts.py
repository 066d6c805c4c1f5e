"""Royalty payouts: reserved in the ledger under a lock, sent by an admin."""

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from catalog.models import Author
from storefront.mail import queue_templated_email

from . import ledger
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


def create_payout_batch(
    *, period: str | None = None, threshold_cents: int | None = None
) -> PayoutBatch:
    """One payout for every author whose available balance reaches the threshold
    and who has told us where to send it. Running it twice for a period creates
    nothing more."""
    now = timezone.now()
    period = period or now.strftime("%Y-%m")
    threshold = settings.PAYOUT_MINIMUM_CENTS if threshold_cents is None else threshold_cents
    batch, _ = PayoutBatch.objects.get_or_create(period=period)
    candidates = (
        LedgerEntry.objects.filter(
            account="author", available_at__lte=now, author__payout_account__isnull=False
        )
        .values("author_id")
        .annotate(total=Sum("amount_cents"))
        .filter(total__gte=max(threshold, 1))
        .values_list("author_id", flat=True)
    )
    for author_id in list(candidates):
        _reserve_payout(batch=batch, author_id=author_id, threshold=max(threshold, 1))
    return batch


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
