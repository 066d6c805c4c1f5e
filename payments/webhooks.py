"""Gateway webhooks: verified, stored once, and treated as a trigger, not the truth.

An event only says "look at payment X"; we re-read X from the provider and move
the order from states where that move is legal (pretix does the same).
"""

import json
import logging
from dataclasses import dataclass

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction

from . import services
from .gateways import GatewayError, get_gateway
from .models import Order, WebhookEvent

log = logging.getLogger(__name__)

HANDLED = {"payment_intent.succeeded", "payment_intent.payment_failed"}


@dataclass(frozen=True)
class WebhookResult:
    status: int
    outcome: str


def handle_stripe(payload: bytes, signature: str | None) -> WebhookResult:
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        return WebhookResult(400, "webhook secret not configured")
    try:
        event = stripe.Webhook.construct_event(payload, signature or "", secret, tolerance=300)
        data = json.loads(payload)
        event_id, event_type = data["id"], data["type"]
        obj = data["data"]["object"]
    except (ValueError, KeyError, TypeError):
        return WebhookResult(400, "malformed payload")
    except stripe.SignatureVerificationError:
        return WebhookResult(400, "bad or stale signature")
    del event  # verified; we read the plain JSON we were sent
    if WebhookEvent.objects.filter(gateway="stripe", event_id=event_id).exists():
        return WebhookResult(200, "replay ignored")
    if event_type not in HANDLED:
        return _record(event_id, event_type, data, None, "ignored: unhandled type")

    reference = str(obj.get("id", ""))
    order = Order.objects.filter(gateway="stripe", gateway_reference=reference).first()
    if order is None:
        return _record(event_id, event_type, data, None, "ignored: no order for this payment")
    try:
        state = get_gateway("stripe").payment_state(reference)
    except GatewayError:
        log.warning(
            "stripe event %s: could not re-read %s; asking Stripe to retry", event_id, reference
        )
        return WebhookResult(503, "provider unavailable, retry")

    with transaction.atomic():
        try:
            with transaction.atomic():
                stored = WebhookEvent.objects.create(
                    gateway="stripe", event_id=event_id, type=event_type, payload=data, order=order
                )
        except IntegrityError:
            return WebhookResult(200, "replay ignored")
        if state.succeeded:
            changed = services.mark_paid(
                order_id=order.pk, amount_cents=state.amount_cents, reference=reference
            )
            outcome = "order paid" if changed else "no change"
        elif event_type == "payment_intent.payment_failed":
            message = state.failure_message or "The payment was declined."
            changed = services.mark_failed(order_id=order.pk, reason=message, reference=reference)
            outcome = "order failed" if changed else "no change"
        else:
            outcome = "no change: the provider does not report the payment as succeeded"
        stored.outcome = outcome
        stored.save(update_fields=["outcome"])
    return WebhookResult(200, outcome)


def _record(event_id, event_type, data, order, outcome) -> WebhookResult:
    try:
        with transaction.atomic():
            WebhookEvent.objects.create(
                gateway="stripe",
                event_id=event_id,
                type=event_type,
                payload=data,
                order=order,
                outcome=outcome,
            )
    except IntegrityError:
        return WebhookResult(200, "replay ignored")
    return WebhookResult(200, outcome)
