"""Refunds: 100% within the window, in two clicks, exactly once.

request_refund() decides (auto-approve, or manual review past the abuse limit);
execute_refund() claims the refund, calls the gateway outside any transaction,
and complete_refund() books the result: order refunded, the sale's exact ledger
reversal, the book revoked, the reader e-mailed. A double click, a second tab,
a retried task and the gateway's own refund webhook all meet the same locks
and state checks, so the money moves once and the ledger reverses once.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.mail import queue_templated_email
from core.reader_pages import forget_reader
from library.models import Entitlement
from library.services import grant_entitlement, revoke_entitlement

from . import credits, ledger, signals
from .gateways import GatewayError, get_gateway
from .models import Gift, LedgerTransaction, Order, Refund, RefundAction, Seat
from .payouts import lock_authors

log = logging.getLogger(__name__)


class RefundError(Exception):
    """Why a refund cannot be made; the message is fit to show to the reader."""


class Outcome(StrEnum):
    """Where a refund stands after we tried to send it: what views and admins say."""

    REFUNDED = "refunded"  # money back (or on its way), booked
    IN_REVIEW = "in review"  # over the abuse limit: an admin decides
    RETRYING = "retrying"  # the gateway failed; beat retries with the same key
    SETTLE_BY_HAND = "settle by hand"  # the gateway holds a different refund
    NO_CHANGE = "no change"  # not ours to send now (done, denied, being processed)


@dataclass(frozen=True)
class RefundResult:
    refund: Refund
    outcome: Outcome


class _PartialAtGateway(GatewayError):
    """The provider holds a refund of another amount (made by hand): never book it."""


def refund_key(order: Order) -> str:
    """The idempotency key of the order's refund at the gateway; it also names the
    order a partial refund of a cart payment is for."""
    return f"order-{order.public_id}-refund"


def refund_deadline(order: Order):
    return order.paid_at + timedelta(days=settings.REFUND_WINDOW_DAYS) if order.paid_at else None


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
    if order.gift_id and order.gift.claimed_at is not None:
        return "This gift was claimed: a claimed gift is not refunded."
    if order.team_licence_id and seat_used(order):
        return "This seat's reader downloaded the book: a used seat is not refunded."
    if not within_window(order, now=now):
        deadline = refund_deadline(order)
        return f"The {settings.REFUND_WINDOW_DAYS}-day refund window closed on {deadline:%B %-d, %Y at %H:%M} UTC."
    return None


def abuse_hold(user) -> str:
    """The abuse rule that holds ``user``'s next refund for an admin's review, in
    words (stored on the refund, shown in the admin's queue), or "" if none does."""
    period, limit = settings.REFUND_LIMIT_PERIOD_DAYS, settings.REFUND_AUTO_LIMIT
    since = timezone.now() - timedelta(days=period)
    taken = Refund.objects.filter(
        order__buyer=user,
        requested_at__gte=since,
        status__in=[Refund.Status.APPROVED, Refund.Status.PROCESSING, Refund.Status.REFUNDED],
    ).count()
    if taken < limit:
        return ""
    return (
        f"Refund limit: {taken} refund{'s' if taken != 1 else ''} in {period} days, "
        f"auto-approve limit {limit}"
    )


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
        held_by = abuse_hold(user)
        manual = bool(held_by)
        refund = existing or Refund(order=order)
        refund.amount_cents = _refund_amount(order)
        refund.status = Refund.Status.REQUESTED if manual else Refund.Status.APPROVED
        refund.reason = reason[:2000]
        refund.auto_approved = not manual
        refund.held_by = held_by
        refund.requested_by = user
        refund.decided_at = None if manual else timezone.now()
        refund.decided_by = None
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


def approve_refund(*, refund_id: int, admin, note: str = "") -> Refund:
    """An admin approves a refund waiting for review (or refunds outside the window)."""
    with transaction.atomic():
        refund = Refund.objects.select_for_update().get(pk=refund_id)
        if refund.status != Refund.Status.REQUESTED:
            return refund
        refund.status = Refund.Status.APPROVED
        refund.decided_at = timezone.now()
        refund.decided_by = admin
        refund.save(update_fields=["status", "decided_at", "decided_by"])
        _log(refund, "approved", admin, note)
    return refund


def deny_refund(*, refund_id: int, admin, note: str) -> Refund:
    """An admin denies a refund waiting for review; ``note`` (required) says why and
    is e-mailed to the reader and shown on their order page."""
    note = (note or "").strip()
    if not note:
        raise RefundError("Say why the refund is denied: the reader reads it.")
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
        refund.decided_by = admin
        refund.save(update_fields=["status", "decision_note", "decided_at", "decided_by"])
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
        refund.decided_by = admin
        refund.save()
        _log(refund, "refunded by an admin", admin, note)
    return refund


def refund_order(
    *, order_id: int, actor, reason: str = "", as_admin: bool = False, note: str = ""
) -> RefundResult:
    """The whole refund of an order, the one sequence the reader's second click and
    an admin's action share: request it (auto-approved, or waiting for review),
    then send it to the gateway. Raises RefundError when it cannot be asked for."""
    if as_admin:
        refund = admin_refund(order_id=order_id, admin=actor, note=note)
    else:
        refund = request_refund(order_id=order_id, user=actor, reason=reason)
    return execute_refund(refund_id=refund.pk, actor=actor)


def approve_and_execute(*, refund_id: int, admin, note: str = "") -> RefundResult:
    """An admin approves a refund waiting for review and sends it."""
    approve_refund(refund_id=refund_id, admin=admin, note=note)
    return execute_refund(refund_id=refund_id, actor=admin)


def execute_refund(*, refund_id: int, actor=None) -> RefundResult:
    """Send an approved (or failed, on retry) refund to the gateway, once."""
    with transaction.atomic():
        # Lock the refund row only: complete_refund (a webhook) locks the order, then
        # the refund; also locking the joined order here, in the other order, deadlocks.
        refund = (
            Refund.objects.select_for_update(of=("self",)).select_related("order").get(pk=refund_id)
        )
        if refund.status not in (Refund.Status.APPROVED, Refund.Status.FAILED):
            # waiting for review, being processed, done or denied
            return RefundResult(refund, _standing(refund))
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
        return RefundResult(refund, _standing(refund))
    try:
        outcome = get_gateway(order.gateway).refund(
            reference=order.gateway_reference,
            amount_cents=refund.amount_cents,
            idempotency_key=refund_key(order),
            whole=order.payment_id is None,  # a cart's line: a partial refund of its payment
        )
        if not outcome.succeeded:
            raise GatewayError("The payment provider did not complete the refund.")
        if outcome.amount_cents != refund.amount_cents:
            # A partial refund made at the provider (by hand) is not this refund:
            # never book it as a full one.
            raise _PartialAtGateway(
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
            forget_reader(refund.order.buyer_id)  # update() sends no signal
            _log(refund, "gateway error", actor, str(exc))
        log.warning("refund %s failed: %s", refund.pk, exc)
        refund.refresh_from_db()
        if isinstance(exc, _PartialAtGateway) and refund.status == Refund.Status.FAILED:
            return RefundResult(refund, Outcome.SETTLE_BY_HAND)
        return RefundResult(refund, _standing(refund))
    complete_refund(
        order_id=order.pk,
        gateway_refund_id=outcome.refund_id,
        actor=actor,
        gateway_status=outcome.status,
    )
    refund.refresh_from_db()
    return RefundResult(refund, _standing(refund))


def _standing(refund: Refund) -> Outcome:
    return {
        Refund.Status.REFUNDED: Outcome.REFUNDED,
        Refund.Status.REQUESTED: Outcome.IN_REVIEW,
        Refund.Status.FAILED: Outcome.RETRYING,
        Refund.Status.REVERSED: Outcome.SETTLE_BY_HAND,
    }.get(refund.status, Outcome.NO_CHANGE)


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
    # Failed ones, and approved ones never sent (an automatic refund of a double
    # payment whose process died between its commit and its gateway call).
    ids = Refund.objects.filter(
        Q(status=Refund.Status.FAILED, attempts__lt=limit)
        | Q(status=Refund.Status.APPROVED, attempts=0, decided_at__lt=stale)
    ).values_list("pk", flat=True)
    return sum(
        execute_refund(refund_id=refund_id).outcome == Outcome.REFUNDED for refund_id in list(ids)
    )


def complete_refund(
    *, order_id: int, gateway_refund_id: str, actor=None, gateway_status: str = "succeeded"
) -> bool:
    """The gateway refunded the order: book it, once. Called after our own gateway
    call and by refund webhooks; whichever comes second changes nothing. A Stripe
    refund still "pending" is booked too (the money is on its way); if it fails
    later, ``reverse_failed_refund`` undoes the booking."""
    with transaction.atomic():
        order = (
            Order.objects.select_for_update(of=("self",))
            .select_related("buyer", "book")
            .get(pk=order_id)
        )
        if order.status == Order.Status.REFUNDED:
            # Booked already and sent again after the gateway failed it (see
            # reverse_failed_refund): now the money did go back.
            refund = Refund.objects.select_for_update().filter(order=order).first()
            if refund is None or refund.status not in (
                Refund.Status.PROCESSING,
                Refund.Status.FAILED,
            ):
                return False
            _mark_refunded(refund, gateway_refund_id, gateway_status, timezone.now(), actor)
            return True
        if order.status not in (Order.Status.PAID, Order.Status.DUPLICATE):
            return False
        if order.book_id and order.status == Order.Status.PAID:
            # Serialise with payouts of the same authors (see payouts.lock_authors).
            lock_authors(order.book.authorships.values_list("author_id", flat=True))
        refund = Refund.objects.select_for_update().filter(order=order).first()
        if refund is not None and refund.status == Refund.Status.REVERSED:
            # Its refund failed at the gateway once; a person settles this order.
            log.error("order %s: refund %s after a failed one", order.pk, gateway_refund_id)
            return False
        now = timezone.now()
        if refund is None:  # refunded at the provider, not through us
            refund = Refund.objects.create(
                order=order,
                amount_cents=order.amount_cents,
                status=Refund.Status.PROCESSING,
                decided_at=now,
            )
        kept_book = order.status == Order.Status.DUPLICATE
        _book_refund(order, refund, now)
        order.status = Order.Status.REFUNDED
        order.save(update_fields=["status"])
        _mark_refunded(refund, gateway_refund_id, gateway_status, now, actor)
        queue_templated_email(
            key=f"refund-done:order-{order.pk}",
            to=order.buyer.email,
            template="email/refund_done",
            context={"order": order, "book": order.book, "refund": refund, "kept_book": kept_book},
        )
        if order.book_id and not kept_book:  # a sale was reversed (not a double payment)
            signals.refund_completed.send(sender=Order, order=order, refund=refund)
    return True


def _mark_refunded(refund: Refund, gateway_refund_id, gateway_status, now, actor) -> None:
    refund.status = Refund.Status.REFUNDED
    refund.gateway_refund_id = gateway_refund_id
    refund.gateway_status = gateway_status
    refund.refunded_at = now
    refund.last_error = ""
    refund.save(
        update_fields=["status", "gateway_refund_id", "gateway_status", "refunded_at", "last_error"]
    )
    _log(refund, "refunded", actor, f"{gateway_refund_id} ({gateway_status})")


def _book_refund(order: Order, refund: Refund, now) -> None:
    """The ledger side of a refund, and what the order had granted taken back."""
    if order.status == Order.Status.DUPLICATE:  # the held double payment goes back
        held = LedgerTransaction.objects.get(order=order, kind=LedgerTransaction.Kind.DOUBLE)
        ledger.record_reversal(
            held, kind=LedgerTransaction.Kind.REFUND, memo=f"Refund of double payment {order.pk}"
        )
    elif order.book_id:
        sale = LedgerTransaction.objects.get(order=order, kind=LedgerTransaction.Kind.SALE)
        ledger.record_reversal(
            sale, kind=LedgerTransaction.Kind.REFUND, memo=f"Refund of order {order.pk}"
        )
        # Only what this order granted: another order may pay for the same book.
        if not order.for_someone_else:
            revoke_entitlement(user=order.buyer, book=order.book, at=now, order_ref=order.public_id)
        else:
            _close_given(order, now)
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


def seat_used(order: Order) -> bool:
    """Whether the team seat this order paid for was downloaded by its reader (a seat
    moves only before that, so no earlier holder's copy can have been downloaded)."""
    return Entitlement.objects.filter(
        book_id=order.book_id, order_ref=order.public_id, last_downloaded_at__isnull=False
    ).exists()


def _close_given(order: Order, now) -> None:
    """A refunded gift or seat: closed, and the book its reader claimed taken back
    (a seat nobody downloaded; a gift is refunded only before it is claimed)."""
    if order.gift_id:
        Gift.objects.filter(pk=order.gift_id).exclude(status=Gift.Status.CLAIMED).update(
            status=Gift.Status.REFUNDED
        )
        forget_reader(order.buyer_id)  # update() sends no signal
        return
    seat = Seat.objects.select_for_update().filter(order=order).first()
    if seat is None:
        return
    if seat.holder_id:
        revoke_entitlement(user=seat.holder, book=order.book, at=now, order_ref=order.public_id)
    seat.closed_at = now
    seat.save(update_fields=["closed_at"])


def reverse_failed_refund(*, order_id: int, gateway_refund_id: str) -> bool:
    """The gateway says a refund we booked failed after all (Stripe ``refund.failed``,
    or ``refund.updated`` to failed/canceled): the money never left. Undo the
    booking with a new ledger transaction (the refund's exact reversal), the order
    is paid again, the reader keeps the book (or the credits), and the refund waits
    in the admin's queue as "Failed at the gateway (reversed)". Once per refund."""
    with transaction.atomic():
        order = (
            Order.objects.select_for_update(of=("self",))
            .select_related("buyer", "book")
            .get(pk=order_id)
        )
        refund = Refund.objects.select_for_update().filter(order=order).first()
        if (
            refund is None
            or refund.status != Refund.Status.REFUNDED
            or refund.gateway_refund_id != gateway_refund_id
            or order.status != Order.Status.REFUNDED
        ):
            return False
        if order.book_id and _paid_again(order):
            # The reader bought the book again meanwhile: giving this order back its
            # book would charge them twice. The refund stays booked and is sent again.
            _failed_at_gateway(
                refund,
                Refund.Status.FAILED,
                "Failed at the gateway after the reader bought the book again.",
                "failed at the gateway: to send again",
            )
            return True
        booked = LedgerTransaction.objects.get(order=order, kind=LedgerTransaction.Kind.REFUND)
        if order.book_id:
            lock_authors(order.book.authorships.values_list("author_id", flat=True))
        ledger.record_reversal(
            booked,
            kind=LedgerTransaction.Kind.UNREFUND,
            memo=f"Refund {gateway_refund_id} of order {order.pk} failed at the gateway",
        )
        double = LedgerTransaction.objects.filter(
            order=order, kind=LedgerTransaction.Kind.DOUBLE
        ).exists()
        order.status = Order.Status.DUPLICATE if double else Order.Status.PAID
        order.save(update_fields=["status"])
        if order.book_id and not double:
            credits.lock_reader(order.buyer)
            grant_entitlement(
                user=order.buyer,
                book=order.book,
                at=timezone.now(),
                order_ref=order.public_id,
                refundable_until=refund_deadline(order),
            )
        elif not order.book_id:
            credits.restore_after_denied_refund(order)
        _failed_at_gateway(
            refund,
            Refund.Status.REVERSED,
            "The payment provider reported this refund failed; settle it by hand.",
            "failed at the gateway: booking reversed",
        )
    return True


def _failed_at_gateway(refund: Refund, status, message: str, action: str) -> None:
    refund.status = status
    refund.gateway_status = "failed"
    refund.last_error = message
    refund.save(update_fields=["status", "gateway_status", "last_error"])
    _log(refund, action, None, refund.gateway_refund_id)
    log.error("refund %s of order %s: %s", refund.pk, refund.order_id, action)


def _paid_again(order: Order) -> bool:
    return Order.objects.charged_for(order.buyer_id, order.book_id).exclude(pk=order.pk).exists()


def note_gateway_status(*, order_id: int, gateway_status: str) -> None:
    """A booked refund that was "pending" at the gateway has now succeeded."""
    changed = Refund.objects.filter(
        order_id=order_id, status=Refund.Status.REFUNDED, gateway_status="pending"
    ).update(gateway_status=gateway_status)
    if changed:  # update() sends no signal
        forget_reader(Order.objects.filter(pk=order_id).values_list("buyer_id", flat=True).first())
