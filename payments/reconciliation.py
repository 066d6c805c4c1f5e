"""Daily reconciliation: the money we booked against the money the gateway moved.

Our side is the orders and refunds, not the ledger: they carry the gateway's ids
(an order's PaymentIntent or invoice, a refund's id) and the moment we booked the
money (``Order.paid_at``, ``Refund.refunded_at``), so every line matches one object
at the gateway. The ledger is tied to those rows by ``audit_ledger`` (one sale of
the order's amount per paid order, an exact reversal per refund); the two checks
together tie the gateway to the ledger.

Matching is by reference over the day widened by ``SLACK`` on both sides, so a
payment captured at 23:59:59 and booked at 00:00:01 is not reported; a line is
reported when either side's time is inside the day.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings

from core.money import format_cents

from .gateways import get_gateway
from .gateways.base import Movement
from .models import Order, Refund

# No outside side: a $0 order and a book bought with a credit move no cash.
INTERNAL_GATEWAYS = {"free", "credit"}
SLACK = timedelta(hours=1)
KINDS = ("capture", "refund")


@dataclass(frozen=True)
class Difference:
    kind: str  # "capture" or "refund"
    reference: str
    problem: str  # "missing at the gateway", "missing here", "amount differs"
    ours: Movement | None
    theirs: Movement | None
    detail: str = ""

    def __str__(self):
        amounts = []
        if self.ours:
            amounts.append(f"here {_money(self.ours)}")
        if self.theirs:
            amounts.append(f"at the gateway {_money(self.theirs)}")
        notes = [n for n in (self.ours and self.ours.note, self.theirs and self.theirs.note) if n]
        extra = "; ".join([*amounts, *notes, *([self.detail] if self.detail else [])])
        return f"{self.kind} {self.reference}: {self.problem} ({extra})"


@dataclass
class GatewayReport:
    gateway: str
    ours: dict = field(default_factory=dict)  # kind -> (cents, count)
    theirs: dict | None = None  # None: the gateway has no outside side to ask
    differences: list[Difference] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.differences


def reconcile(start: datetime, end: datetime) -> list[GatewayReport]:
    """One report per gateway that moved money here in [start, end), and Stripe
    whenever it is configured (a capture we never heard of is what we look for)."""
    return [reconcile_gateway(name, start, end) for name in gateways_to_check(start, end)]


def gateways_to_check(start, end) -> list[str]:
    wide = (start - SLACK, end + SLACK)
    names = set(Order.objects.filter(paid_at__range=wide).values_list("gateway", flat=True))
    names |= set(
        Refund.objects.filter(refunded_at__range=wide).values_list("order__gateway", flat=True)
    )
    if settings.STRIPE_SECRET_KEY:
        names.add("stripe")
    return sorted(names - INTERNAL_GATEWAYS)


def reconcile_gateway(name: str, start: datetime, end: datetime) -> GatewayReport:
    """Raises GatewayError when the gateway cannot be asked."""
    gateway = get_gateway(name)
    wide_start, wide_end = start - SLACK, end + SLACK
    ours = our_movements(name, wide_start, wide_end, gateway=gateway)
    report = GatewayReport(gateway=name, ours=_totals(ours, start, end))
    if not hasattr(gateway, "movements"):
        return report
    theirs = gateway.movements(wide_start, wide_end)
    report.theirs = _totals(theirs, start, end)
    for kind in KINDS:
        report.differences += _compare(
            kind,
            [m for m in ours if m.kind == kind],
            [m for m in theirs if m.kind == kind],
            start,
            end,
        )
    _explain_missing_here(name, report.differences)
    return report


def our_movements(name: str, start, end, *, gateway=None) -> list[Movement]:
    """What we booked with this gateway in [start, end): paid orders (refunded ones
    were paid too) and completed refunds."""
    found = []
    orders = Order.objects.filter(
        gateway=name,
        paid_at__gte=start,
        paid_at__lt=end,
        status__in=[Order.Status.PAID, Order.Status.REFUNDED, Order.Status.DUPLICATE],
        amount_cents__gt=0,
    ).order_by("paid_at", "pk")
    for order in orders:
        reference, note = order.gateway_reference, f"order {order.pk}"
        if reference.startswith("in_") and hasattr(gateway, "invoice_payment"):
            # A membership period: the gateway lists the invoice's PaymentIntent.
            note = f"order {order.pk}, invoice {reference}"
            reference = gateway.invoice_payment(reference) or reference
        found.append(
            Movement(
                kind="capture",
                reference=reference or f"order-{order.pk}",
                amount_cents=order.amount_cents,
                currency=order.currency,
                at=order.paid_at,
                note=note,
            )
        )
    refunds = Refund.objects.filter(
        order__gateway=name,
        status=Refund.Status.REFUNDED,
        refunded_at__gte=start,
        refunded_at__lt=end,
    ).select_related("order")
    for refund in refunds.order_by("refunded_at", "pk"):
        found.append(
            Movement(
                kind="refund",
                reference=refund.gateway_refund_id or f"refund-{refund.pk}",
                amount_cents=refund.amount_cents,
                currency=refund.order.currency,
                at=refund.refunded_at,
                note=f"order {refund.order_id}",
            )
        )
    return found


def _totals(movements, start, end) -> dict:
    totals = dict.fromkeys(KINDS, (0, 0))
    for m in movements:
        if start <= m.at < end:
            cents, count = totals[m.kind]
            totals[m.kind] = (cents + m.amount_cents, count + 1)
    return totals


def _by_reference(movements) -> dict[str, Movement]:
    """One movement per reference (two charges of one payment add up)."""
    grouped = defaultdict(list)
    for m in movements:
        grouped[m.reference].append(m)
    merged = {}
    for reference, ms in grouped.items():
        first = min(ms, key=lambda m: m.at)
        merged[reference] = Movement(
            kind=first.kind,
            reference=reference,
            amount_cents=sum(m.amount_cents for m in ms),
            currency=first.currency,
            at=first.at,
            note=", ".join(m.note for m in ms if m.note),
        )
    return merged


def _compare(kind, ours, theirs, start, end) -> list[Difference]:
    ours, theirs = _by_reference(ours), _by_reference(theirs)
    differences = []
    for reference in sorted(set(ours) | set(theirs)):
        here, there = ours.get(reference), theirs.get(reference)
        if not any(m is not None and start <= m.at < end for m in (here, there)):
            continue  # both outside the day: another day's line
        if there is None:
            differences.append(Difference(kind, reference, "missing at the gateway", here, None))
        elif here is None:
            differences.append(Difference(kind, reference, "missing here", None, there))
        elif (here.amount_cents, here.currency) != (there.amount_cents, there.currency):
            differences.append(Difference(kind, reference, "amount differs", here, there))
    return differences


def _explain_missing_here(name, differences) -> None:
    """A capture we did not book may still have an order: say which, and why."""
    missing = [d.reference for d in differences if d.kind == "capture" and d.theirs and not d.ours]
    orders = Order.objects.filter(gateway=name, gateway_reference__in=missing)
    status = {o.gateway_reference: o for o in orders}
    for i, d in enumerate(differences):
        order = status.get(d.reference) if d.kind == "capture" and not d.ours else None
        if order is not None:
            reason = f"order {order.pk} is {order.status}"
            if order.failure_reason:
                reason += f": {order.failure_reason}"
            differences[i] = Difference(d.kind, d.reference, d.problem, d.ours, d.theirs, reason)


def _money(m: Movement) -> str:
    return format_cents(m.amount_cents, m.currency)
