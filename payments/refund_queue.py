"""The admin's refund queue: what it reads, and its bulk decisions.

Each decision goes through the services in payments/refunds.py, one refund at a
time (approve_and_execute, deny_refund): they lock the refund, refuse a refund
that is no longer waiting, and log the decision with its actor. This module only
picks the refunds still waiting and counts what happened, so a form posted twice
(a double click, a reload) decides and refunds nothing twice.
"""

from collections import Counter
from dataclasses import dataclass, field

from django.db.models import Count, IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from . import refunds
from .models import Refund

WAITING = Refund.Status.REQUESTED


def with_reader_history(queryset: QuerySet) -> QuerySet:
    """Annotate each refund with what its reader had refunded before asking for it:
    ``refunded_before`` (how many) and ``refunded_before_cents`` (how much)."""
    before = (
        Refund.objects.filter(
            order__buyer=OuterRef("order__buyer"),
            status=Refund.Status.REFUNDED,
            requested_at__lt=OuterRef("requested_at"),
        )
        .order_by()
        .values("order__buyer")
    )
    count = before.annotate(n=Count("pk")).values("n")[:1]
    total = before.annotate(cents=Sum("amount_cents")).values("cents")[:1]
    return queryset.annotate(
        refunded_before=Coalesce(Subquery(count, output_field=IntegerField()), 0),
        refunded_before_cents=Coalesce(Subquery(total, output_field=IntegerField()), 0),
    )


@dataclass
class Decisions:
    """What a bulk decision did: outcomes counted, and refunds left as they were."""

    done: Counter = field(default_factory=Counter)
    skipped: int = 0  # no longer waiting for review (decided meanwhile, or by a second post)

    def messages(self) -> list[str]:
        lines = [f"{count} request(s) {outcome}." for outcome, count in sorted(self.done.items())]
        if self.skipped:
            lines.append(
                f"{self.skipped} selected request(s) were not waiting for review: left as they were."
            )
        return lines or ["Nothing was selected."]


def _waiting(refund_ids) -> tuple[list[int], int]:
    ids = sorted({int(pk) for pk in refund_ids if str(pk).isdigit()})  # a form's text
    waiting = list(Refund.objects.filter(pk__in=ids, status=WAITING).values_list("pk", flat=True))
    return waiting, len(ids) - len(waiting)


def approve_many(*, refund_ids, admin, note: str = "") -> Decisions:
    """Approve and send each refund still waiting for review, once."""
    waiting, skipped = _waiting(refund_ids)
    result = Decisions(skipped=skipped)
    for refund_id in waiting:
        outcome = refunds.approve_and_execute(refund_id=refund_id, admin=admin, note=note).outcome
        result.done[_approved(outcome)] += 1
    return result


def _approved(outcome: refunds.Outcome) -> str:
    return {
        refunds.Outcome.REFUNDED: "approved and refunded",
        refunds.Outcome.RETRYING: "approved, but the payment provider failed: retried automatically",
        refunds.Outcome.SETTLE_BY_HAND: (
            "approved, but the payment provider holds another refund: settle it by hand"
        ),
    }.get(outcome, "decided meanwhile elsewhere")


def deny_many(*, refund_ids, admin, note: str) -> Decisions:
    """Deny each refund still waiting for review; ``note`` (required) is e-mailed to
    each reader and shown on their order page."""
    if not (note or "").strip():
        raise refunds.RefundError("Say why the refund is denied: the reader reads it.")
    waiting, skipped = _waiting(refund_ids)
    result = Decisions(skipped=skipped)
    for refund_id in waiting:
        refund = refunds.deny_refund(refund_id=refund_id, admin=admin, note=note)
        denied = refund.status == Refund.Status.DENIED
        result.done[
            "denied (the reason is e-mailed to the reader)"
            if denied
            else "decided meanwhile elsewhere"
        ] += 1
    return result
