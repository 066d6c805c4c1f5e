"""Gateway webhooks: verified, stored once, and treated as a trigger, not the truth.

An event only says "look at payment X"; we re-read X from the provider and move
the order from states where that move is legal (pretix does the same).
"""

import json
import logging
from dataclasses import dataclass

import stripe
from django.conf import settings
from django.db import IntegrityError, InterfaceError, OperationalError, connection, transaction

from . import cart_payments, membership_billing, memberships, refunds, services
from .gateways import GatewayError, get_gateway
from .models import Order, Payment, WebhookEvent

log = logging.getLogger(__name__)

PAYMENT_EVENTS = {"payment_intent.succeeded", "payment_intent.payment_failed"}
# A refund made by us (or in Stripe's dashboard) is booked from whichever comes first;
# one that fails later (refund.failed, or refund.updated to failed) is reversed.
REFUND_EVENTS = {"charge.refunded", "refund.created", "refund.updated", "refund.failed"}
REFUND_FAILED = {"failed", "canceled"}
# The Reader Membership's subscription: each paid invoice is a period of credits.
INVOICE_EVENTS = {"invoice.paid", "invoice.payment_succeeded"}
SUBSCRIPTION_EVENTS = {"customer.subscription.updated", "customer.subscription.deleted"}
HANDLED = PAYMENT_EVENTS | REFUND_EVENTS | INVOICE_EVENTS | SUBSCRIPTION_EVENTS


@dataclass(frozen=True)
class WebhookResult:
    status: int
    outcome: str


REPLAY = WebhookResult(200, "replay ignored")
BUSY = WebhookResult(503, "busy: another request holds the lock, retry")
# lock_not_available (lock_timeout ran out) and deadlock_detected: nothing was
# changed, and the same event succeeds when Stripe delivers it again.
LOCK_FAILURES = {"55P03", "40P01"}


def handle_stripe(payload: bytes, signature: str | None) -> WebhookResult:
    try:
        return _handle_stripe(payload, signature)
    except (OperationalError, InterfaceError):
        # The database went away mid-event (restart, failover, a dropped connection)
        # or gave up on a lock: the transaction rolled back with the event's record,
        # so nothing happened. Anything but a 2xx makes Stripe send the event again.
        log.warning("stripe webhook: database unavailable; asking Stripe to retry", exc_info=True)
        return WebhookResult(503, "database unavailable, retry")


def _handle_stripe(payload: bytes, signature: str | None) -> WebhookResult:
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        return WebhookResult(400, "webhook secret not configured")
    try:
        # Verify only: we read the plain JSON we were sent, never stripe's Event object
        # (building one raises AttributeError on a signed body that is not an object).
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance=300)
        data = json.loads(payload)
        event_id, event_type = data["id"], data["type"]
        obj = data["data"]["object"]
        if not (isinstance(event_id, str) and event_id and isinstance(event_type, str)):
            raise TypeError("event id and type must be strings")
        if not isinstance(obj, dict):
            raise TypeError("data.object must be an object")
        _check_storable(data)
    except (ValueError, KeyError, TypeError, RecursionError):  # RecursionError: absurd nesting
        return WebhookResult(400, "malformed payload")
    except stripe.SignatureVerificationError:
        return WebhookResult(400, "bad or stale signature")
    if WebhookEvent.objects.filter(gateway="stripe", event_id=event_id).exists():
        return REPLAY
    if event_type not in HANDLED:
        return _record(event_id, event_type, data, None, "ignored: unhandled type")

    if event_type in REFUND_EVENTS:
        return _handle_refund_event(event_id, event_type, data, obj)
    if event_type in INVOICE_EVENTS | SUBSCRIPTION_EVENTS:
        return _handle_membership_event(event_id, event_type, data, obj)
    reference = obj.get("id")
    if not isinstance(reference, str) or not reference:
        # Never look an order up by "": that would match any order not yet sent to Stripe.
        return WebhookResult(400, "malformed payload")
    payment = Payment.objects.filter(gateway="stripe", gateway_reference=reference).first()
    if payment is not None:
        return _handle_cart_payment_event(event_id, event_type, data, payment)
    order = Order.objects.paid_alone_by("stripe", reference).first()
    if order is None:
        return _record(event_id, event_type, data, None, "ignored: no order for this payment")
    try:
        state = get_gateway("stripe").payment_state(reference)
    except GatewayError:
        log.warning(
            "stripe event %s: could not re-read %s; asking Stripe to retry", event_id, reference
        )
        return WebhookResult(503, "provider unavailable, retry")

    def act() -> str:
        if state.succeeded:
            changed = services.mark_paid(
                order_id=order.pk, amount_cents=state.amount_cents, reference=reference
            )
            return "order paid" if changed else "no change"
        if event_type == "payment_intent.payment_failed":
            message = state.failure_message or "The payment was declined."
            changed = services.mark_failed(order_id=order.pk, reason=message, reference=reference)
            return "order failed" if changed else "no change"
        return "no change: the provider does not report the payment as succeeded"

    return _act_once(event_id, event_type, data, order, act)


def _handle_refund_event(event_id, event_type, data, obj) -> WebhookResult:
    reference = obj.get("payment_intent")
    if not isinstance(reference, str) or not reference:
        return _record(event_id, event_type, data, None, "ignored: no payment on this refund")
    payment = Payment.objects.filter(gateway="stripe", gateway_reference=reference).first()
    if payment is not None:
        return _handle_cart_refund_event(event_id, event_type, data, obj, payment)
    order = Order.objects.paid_alone_by("stripe", reference).first()
    if order is None:
        return _record(event_id, event_type, data, None, "ignored: no order for this payment")
    # A refund event names its refund: re-read that one (it may have failed since);
    # charge.refunded names the charge: read the payment's refund.
    refund_id = obj.get("id") if obj.get("object") == "refund" else None
    try:
        gateway = get_gateway("stripe")
        if isinstance(refund_id, str) and refund_id:
            refund = gateway.refund_state(refund_id)
            if refund is not None and refund.payment != reference:
                refund = None  # not a refund of this payment: the event lies
        else:
            refund = gateway.refund_for_payment(reference)
    except GatewayError:
        return WebhookResult(503, "provider unavailable, retry")

    def act() -> str:
        if refund is not None and refund.status in REFUND_FAILED:
            changed = refunds.reverse_failed_refund(
                order_id=order.pk, gateway_refund_id=refund.refund_id
            )
            return "refund failed: booking reversed" if changed else "no change"
        expected = getattr(order, "refund", None)  # unused credits: a refund of part
        expected = expected.amount_cents if expected is not None else order.amount_cents
        if refund is None or not refund.succeeded:
            return "no change: the provider holds no refund for this payment"
        if refund.amount_cents != expected:
            log.error(
                "order %s: partial refund %s of %s",
                order.pk,
                refund.amount_cents,
                order.amount_cents,
            )
            return "no change: partial refunds are booked by hand"
        changed = refunds.complete_refund(
            order_id=order.pk, gateway_refund_id=refund.refund_id, gateway_status=refund.status
        )
        if not changed and refund.status == "succeeded":
            refunds.note_gateway_status(order_id=order.pk, gateway_status="succeeded")
        return "order refunded" if changed else "no change"

    return _act_once(event_id, event_type, data, order, act)


def _handle_cart_payment_event(event_id, event_type, data, payment) -> WebhookResult:
    """A cart's PaymentIntent succeeded or failed: every line moves with it, once."""
    reference = payment.gateway_reference
    try:
        state = get_gateway("stripe").payment_state(reference)
    except GatewayError:
        return WebhookResult(503, "provider unavailable, retry")

    def act() -> str:
        if state.succeeded:
            changed = cart_payments.mark_payment_paid(
                payment_id=payment.pk, amount_cents=state.amount_cents, reference=reference
            )
            return "cart paid" if changed else "no change"
        if event_type == "payment_intent.payment_failed":
            message = state.failure_message or "The payment was declined."
            changed = cart_payments.mark_payment_failed(
                payment_id=payment.pk, reason=message, reference=reference
            )
            return "cart failed" if changed else "no change"
        return "no change: the provider does not report the payment as succeeded"

    return _act_once(event_id, event_type, data, None, act)


def _handle_cart_refund_event(event_id, event_type, data, obj, payment) -> WebhookResult:
    """A refund of a cart's payment: each is a partial refund of one line, named by
    the key we made it with. The event names its refund (re-read it) or only the
    charge (charge.refunded: read every refund of the payment). A refund we did
    not make (no key: made in Stripe's dashboard) is never guessed onto a line."""
    refund_id = obj.get("id") if obj.get("object") == "refund" else None
    reference = payment.gateway_reference
    try:
        gateway = get_gateway("stripe")
        if isinstance(refund_id, str) and refund_id:
            found = gateway.refund_state(refund_id)
            found = [found] if found is not None and found.payment == reference else []
        else:
            found = gateway.refunds_of_payment(reference)
    except GatewayError:
        return WebhookResult(503, "provider unavailable, retry")
    lines = {refunds.refund_key(order): order for order in payment.orders.all()}

    def act() -> str:
        outcomes = [_book_line_refund(refund, lines.get(refund.key)) for refund in found]
        return "; ".join(outcomes) or "no change: the provider holds no refund for this payment"

    return _act_once(event_id, event_type, data, None, act)


def _book_line_refund(refund, order) -> str:
    if order is None:
        log.error("refund %s of a cart payment names no line: book it by hand", refund.refund_id)
        return f"no change: refund {refund.refund_id} is for no line of this cart"
    if refund.status in REFUND_FAILED:
        changed = refunds.reverse_failed_refund(
            order_id=order.pk, gateway_refund_id=refund.refund_id
        )
        return "refund failed: booking reversed" if changed else "no change"
    if not refund.succeeded:
        return "no change"
    if refund.amount_cents != order.amount_cents:
        log.error("order %s: refund %s of %s", order.pk, refund.amount_cents, order.amount_cents)
        return "no change: partial refunds are booked by hand"
    changed = refunds.complete_refund(
        order_id=order.pk, gateway_refund_id=refund.refund_id, gateway_status=refund.status
    )
    if not changed and refund.status == "succeeded":
        refunds.note_gateway_status(order_id=order.pk, gateway_status="succeeded")
    return f"order {order.pk} refunded" if changed else "no change"


def _handle_membership_event(event_id, event_type, data, obj) -> WebhookResult:
    reference = obj.get("id")
    if not isinstance(reference, str) or not reference:
        return WebhookResult(400, "malformed payload")
    gateway = get_gateway("stripe")
    try:
        if event_type in INVOICE_EVENTS:
            state = gateway.invoice_state(reference)
        else:
            state = gateway.subscription_state(reference)
    except GatewayError:
        return WebhookResult(503, "provider unavailable, retry")

    def act() -> str:
        if event_type not in INVOICE_EVENTS:
            return memberships.stripe_subscription_changed(state)
        if not state.subscription:
            return "ignored: not a subscription invoice"
        if not state.paid:
            return "no change: the provider does not report the invoice as paid"
        return membership_billing.stripe_invoice_paid(state)

    return _act_once(event_id, event_type, data, None, act)


def _act_once(event_id, event_type, data, order, act) -> WebhookResult:
    """Claim the event and ``act`` on it in one transaction, or change nothing.

    Row locks are waited for at most WEBHOOK_LOCK_TIMEOUT_MS (PostgreSQL): when
    another request holds the order or refund that long, everything rolls back,
    the event stays unclaimed, and a 503 makes Stripe deliver it again."""
    try:
        with transaction.atomic():
            _limit_lock_wait()
            stored = _claim_event(event_id, event_type, data, order)
            if stored is None:
                return REPLAY
            stored.outcome = act()
            stored.save(update_fields=["outcome"])
    except OperationalError as exc:
        if getattr(exc.__cause__, "sqlstate", None) not in LOCK_FAILURES:
            raise
        log.warning("stripe event %s: %s; asking Stripe to retry", event_id, exc)
        return BUSY
    return WebhookResult(200, stored.outcome)


def _limit_lock_wait() -> None:
    """For the rest of this transaction, wait no longer than the setting for a lock."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true)",
                [f"{settings.WEBHOOK_LOCK_TIMEOUT_MS}ms"],
            )


def _check_storable(value) -> None:
    """ValueError unless every string in the payload can be stored as text: PostgreSQL
    refuses NUL characters (and JSON can carry lone surrogates, which are not UTF-8).
    Found by tests/security/test_fuzz.py: such a signed payload was a 500."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("NUL character in payload")
        value.encode("utf-8")  # UnicodeEncodeError is a ValueError
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_storable(key)
            _check_storable(item)
    elif isinstance(value, list):
        for item in value:
            _check_storable(item)


def _claim_event(event_id, event_type, data, order, outcome="") -> WebhookEvent | None:
    """Store the event, or None if it was stored already (a replay, or the same event
    delivered twice at once: the unique index decides which one goes on)."""
    try:
        with transaction.atomic():
            return WebhookEvent.objects.create(
                gateway="stripe",
                event_id=event_id,
                type=event_type,
                payload=data,
                order=order,
                outcome=outcome,
            )
    except IntegrityError:
        return None


def _record(event_id, event_type, data, order, outcome) -> WebhookResult:
    if _claim_event(event_id, event_type, data, order, outcome) is None:
        return REPLAY
    return WebhookResult(200, outcome)
