"""Refunds: 100% within the window, in two clicks, exactly once.

request_refund() decides (auto-approve, or manual review past the abuse limit);
execute_refund() claims the refund, calls the gateway outside any transaction,
and complete_refund() books the result: order refunded, the sale's exact ledger
reversal, the book revoked, the reader e-mailed. A double click, a second tab,
a retried task and the gateway's own refund webhook all meet the same locks
and state checks, so the money moves once and the ledger reverses once.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from library.services import revoke_entitlement
from storefront.mail import queue_templated_email

from . import credits, ledger
from .gateways import GatewayError, get_gateway
from .models import LedgerTransaction, Order, Refund, RefundAction
from .payouts import lock_authors
from .services import refund_deadline

log = logging.getLogger(__name__)


class RefundError(Exception):
    """Why a refund cannot be made; the message is fit to show to the reader."""


def within_window(order: Order, *, now=None) -> bool:
    """Inside the refund window, measured from payment to the second (UTC)."""
    deadline = refund_deadline(order)
    return deadline is not None and (now or timezone.now()) <= deadline


def refund_refusal(order: Order, user, *, now=None) -> str | None:
    """Why ``user`` cannot ask for a refund of ``order`` now, or None if they can."""
    if order.buyer_id != user.pk:
        return "This is not your order."
    if order.product != Order.Product.BOOK and order.status == Order.Status.PAID:
        left, _ = credits.unused(order)
        if left == 0:
            return "Every credit of this purchase is spent: there is nothing left to refund."
    if order.amount_cents == 0:
        return "Free books are not refunded: you can remove the book from your library instead."
    if order.status == Order.Status.REFUNDED:
        return "This order is refunded already."
    if order.status != Order.Status.PAID:
        return "Only paid orders can be refunded."
    if not within_window(order, now=now):
        deadline = refund_deadline(order)
        return f"The {settings.REFUND_WINDOW_DAYS}-day refund window closed on {deadline:%B %-d, %Y at %H:%M} UTC."
    return None


def _over_abuse_limit(user) -> bool:
    since = timezone.now() - timedelta(days=settings.REFUND_LIMIT_PERIOD_DAYS)
    taken = Refund.objects.filter(
        order__buyer=user,
        requested_at__gte=since,
        status__in=[Refund.Status.APPROVED, Refund.Status.PROCESSING, Refund.Status.REFUNDED],
    ).count()
    return taken >= settings.REFUND_AUTO_LIMIT


def _log(refund, action, actor=None, note=""):
    RefundAction.objects.create(refund=refund, actor=actor, action=action, note=note)


def _refund_amount(order: Order) -> int:
    """A book: what was paid. A pack or membership period: the cash value of its
    unused credits, taken out of the balance now so they cannot be spent meanwhile."""
    if order.product == Order.Product.BOOK:
        return order.amount_cents
    try:
        return credits.withdraw_for_refund(order)
    except credits.CreditError as exc:
        raise RefundError(str(exc)) from exc


def request_refund(*, order_id: int, user, reason: str = "") -> Refund:
    """The reader's second click. Approved at once within the window, unless the
    reader is over the abuse limit: then it waits for an admin. Idempotent: a
    second request returns the first one's refund."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        existing = Refund.objects.filter(order=order).first()
        if existing is not None and existing.status != Refund.Status.DENIED:
            return existing
        refusal = refund_refusal(order, user)
        if refusal:
            raise RefundError(refusal)
        manual = _over_abuse_limit(user)
        refund = existing or Refund(order=order)
        refund.amount_cents = _refund_amount(order)
        refund.status = Refund.Status.REQUESTED if manual else Refund.Status.APPROVED
        refund.reason = reason[:2000]
        refund.auto_approved = not manual
        refund.requested_by = user
        refund.decided_at = None if manual else timezone.now()
        refund.save()
        _log(
            refund,
            "requested (manual review: over the refund limit)"
            if manual
            else "requested and auto-approved",
            user,
            reason,
        )
    return refund


def approve_refund(*, refund_id: int, admin) -> Refund:
    """An admin approves a refund waiting for review (or refunds outside the window)."""
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status != Refund.Status.REQUESTED:
            return refund
        refund.status = Refund.Status.APPROVED
        refund.decided_at = timezone.now()
        refund.save(update_fields=["status", "decided_at"])
        _log(refund, "approved", admin)
    return refund


def deny_refund(*, refund_id: int, admin, note: str) -> Refund:
    with transaction.atomic():
        refund = (
            Refund.objects.select_for_update(of=("self",))
            .select_related("order__buyer", "order__book")
            .get(pk=refund_id)
        )
        if refund.status != Refund.Status.REQUESTED:
            return refund
        refund.status = Refund.Status.DENIED
        refund.decision_note = note
        refund.decided_at = timezone.now()
        refund.save(update_fields=["status", "decision_note", "decided_at"])
        _log(refund, "denied", admin, note)
        if refund.order.product != Order.Product.BOOK:
            credits.restore_after_denied_refund(refund.order)
        queue_templated_email(
            key=f"refund-denied:refund-{refund.pk}:{int(refund.decided_at.timestamp())}",
            to=refund.order.buyer.email,
            template="email/refund_denied",
            context={"refund": refund, "order": refund.order, "book": refund.order.book},
        )
    return refund


def admin_refund(*, order_id: int, admin, note: str = "") -> Refund:
    """An admin refunds a paid order, inside the window or not."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        refund = Refund.objects.filter(order=order).first()
        if refund is not None and refund.status not in (
            Refund.Status.DENIED,
            Refund.Status.REQUESTED,
        ):
            return refund
        if order.status != Order.Status.PAID or order.amount_cents == 0:
            raise RefundError("Only paid, non-free orders can be refunded.")
        if refund is None:
            refund = Refund(order=order, amount_cents=_refund_amount(order), requested_by=admin)
        refund.status = Refund.Status.APPROVED
        refund.decided_at = timezone.now()
        refund.save()
        _log(refund, "refunded by an admin", admin, note)
    return refund


def execute_refund(*, refund_id: int, actor=None) -> Refund:
    """Send an approved (or failed, on retry) refund to the gateway, once."""
    with transaction.atomic():
        # Lock the refund row only: complete_refund (a webhook) locks the order, then
        # the refund; also locking the joined order here, in the other order, deadlocks.
        refund = (
            Refund.objects.select_for_update(of=("self",)).select_related("order").get(pk=refund_id)
        )
        if refund.status not in (Refund.Status.APPROVED, Refund.Status.FAILED):
            return refund  # waiting for review, being processed, done or denied
        refund.status = Refund.Status.PROCESSING
        refund.attempts += 1
        refund.processing_since = timezone.now()
        refund.save(update_fields=["status", "attempts", "processing_since"])
    order = refund.order
    if order.gateway == credits.CREDIT_GATEWAY:  # the credit goes back; no money moves
        complete_refund(
            order_id=order.pk, gateway_refund_id=f"credit-{order.public_id}", actor=actor
        )
        refund.refresh_from_db()
        return refund
    try:
        outcome = get_gateway(order.gateway).refund(
            reference=order.gateway_reference,
            amount_cents=refund.amount_cents,
            idempotency_key=f"order-{order.public_id}-refund",
        )
        if not outcome.succeeded:
            raise GatewayError("The payment provider did not complete the refund.")
        if outcome.amount_cents != refund.amount_cents:
            # A partial refund made at the provider (by hand) is not this refund:
            # never book it as a full one.
            raise GatewayError(
                f"The payment provider holds a partial refund {outcome.refund_id} of "
                f"{outcome.amount_cents} cents, not {refund.amount_cents}: settle it by hand."
            )
    except GatewayError as exc:
        with transaction.atomic():
            # Only if still ours: a refund webhook may have booked it meanwhile (our
            # answer lost, the refund made); then it stays refunded.
            Refund.objects.filter(pk=refund.pk, status=Refund.Status.PROCESSING).update(
                status=Refund.Status.FAILED, last_error=str(exc)[:2000]
            )
            _log(refund, "gateway error", actor, str(exc))
        log.warning("refund %s failed: %s", refund.pk, exc)
        refund.refresh_from_db()
        return refund
    complete_refund(order_id=order.pk, gateway_refund_id=outcome.refund_id, actor=actor)
    refund.refresh_from_db()
    return refund


# Longer than any gateway call (STRIPE_TIMEOUT x 3 tries) and any web request.
REFUND_STALE_MINUTES = 10


def retry_failed_refunds(*, max_attempts: int | None = None) -> int:
    """Celery beat: send refunds the gateway failed (a timeout, an outage) again,
    each at most ``REFUND_MAX_ATTEMPTS`` times in all; later ones wait for an
    admin's "Retry failed refunds". A refund left ``processing`` for longer than
    any gateway call can take (its process died mid-call) is failed first, then
    retried the same way. The idempotency key makes a retry of a refund the
    gateway did make find it instead of refunding twice. Returns how many were
    refunded now."""
    limit = max_attempts if max_attempts is not None else settings.REFUND_MAX_ATTEMPTS
    stale = timezone.now() - timedelta(minutes=REFUND_STALE_MINUTES)
    with transaction.atomic():
        for refund in Refund.objects.select_for_update(skip_locked=True).filter(
            Q(processing_since__lt=stale) | Q(processing_since__isnull=True),
            status=Refund.Status.PROCESSING,
        ):
            refund.status = Refund.Status.FAILED
            refund.last_error = "Interrupted during the gateway call; retried."
            refund.save(update_fields=["status", "last_error"])
            _log(refund, "gateway call interrupted", None, refund.last_error)
    ids = Refund.objects.filter(status=Refund.Status.FAILED, attempts__lt=limit).values_list(
        "pk", flat=True
    )
    return sum(
        execute_refund(refund_id=refund_id).status == Refund.Status.REFUNDED
        for refund_id in list(ids)
    )


def complete_refund(*, order_id: int, gateway_refund_id: str, actor=None) -> bool:
    """The gateway refunded the order: book it, once. Called after our own gateway
    call and by refund webhooks; whichever comes second changes nothing."""
    with transaction.atomic():
        order = (
            Order.objects.select_for_update(of=("self",))
            .select_related("buyer", "book")
            .get(pk=order_id)
        )
        if order.status != Order.Status.PAID:
            return False
        if order.book_id:
            # Serialise with payouts of the same authors (see payouts.lock_authors).
            lock_authors(order.book.authorships.values_list("author_id", flat=True))
        now = timezone.now()
        refund = Refund.objects.select_for_update().filter(order=order).first()
        if refund is None:  # refunded at the provider, not through us
            refund = Refund.objects.create(
                order=order,
                amount_cents=order.amount_cents,
                status=Refund.Status.PROCESSING,
                decided_at=now,
            )
        order.status = Order.Status.REFUNDED
        order.save(update_fields=["status"])
        if order.book_id:
            sale = LedgerTransaction.objects.get(order=order, kind=LedgerTransaction.Kind.SALE)
            ledger.record_reversal(
                sale, kind=LedgerTransaction.Kind.REFUND, memo=f"Refund of order {order.pk}"
            )
            revoke_entitlement(user=order.buyer, book=order.book, at=now)
            if order.gateway == credits.CREDIT_GATEWAY:
                credits.return_credit(order)
        else:
            try:  # taken out when the refund was requested (then this returns that value)
                withdrawn = credits.withdraw_for_refund(order)
            except credits.CreditError:  # refunded at the provider after every credit was spent
                withdrawn = 0
            ledger.record_credit_refund(
                order, refunded_cents=refund.amount_cents, withdrawn_cents=withdrawn
            )
        refund.status = Refund.Status.REFUNDED
        refund.gateway_refund_id = gateway_refund_id
        refund.refunded_at = now
        refund.last_error = ""
        refund.save(update_fields=["status", "gateway_refund_id", "refunded_at", "last_error"])
        _log(refund, "refunded", actor, gateway_refund_id)
        queue_templated_email(
            key=f"refund-done:order-{order.pk}",
            to=order.buyer.email,
            template="email/refund_done",
            context={"order": order, "book": order.book, "refund": refund},
        )
    return True
