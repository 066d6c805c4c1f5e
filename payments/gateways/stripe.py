"""Stripe: PaymentIntents with the Payment Element; fulfilment only from webhooks."""

import stripe
from django.conf import settings

from .base import GatewayError, PaymentSession, PaymentStart, PaymentState, RefundOutcome

# localstripe (STRIPE_API_BASE, in tests) answers 400 "Unexpected description,
# receipt_email" to PaymentIntent fields it does not model; real Stripe gets them.
LOCALSTRIPE_UNSUPPORTED = frozenset({"description", "receipt_email"})


def client() -> stripe.StripeClient:
    options = {}
    if settings.STRIPE_API_BASE:  # localstripe in tests
        options["base_addresses"] = {"api": settings.STRIPE_API_BASE}
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, **options, max_network_retries=2)


class StripeGateway:
    name = "stripe"

    def start_payment(self, request: PaymentStart) -> PaymentSession:
        params = {
            "amount": request.amount_cents,
            "currency": request.currency.lower(),
            "description": request.description,
            "payment_method_types": ["card"],
            "receipt_email": request.customer_email,
            "metadata": {
                "order_id": str(request.order_id),
                "public_id": request.public_id,
                **request.metadata,
            },
        }
        if settings.STRIPE_API_BASE:
            params = {k: v for k, v in params.items() if k not in LOCALSTRIPE_UNSUPPORTED}
        try:
            intent = client().v1.payment_intents.create(
                params=params, options={"idempotency_key": request.idempotency_key}
            )
        except stripe.StripeError as exc:
            raise GatewayError("The payment provider is not answering; please try again.") from exc
        return PaymentSession(reference=intent.id, client_secret=intent.client_secret)

    def resume_payment(self, reference: str) -> PaymentSession:
        try:
            intent = client().v1.payment_intents.retrieve(reference)
        except stripe.StripeError as exc:
            raise GatewayError("The payment provider is not answering; please try again.") from exc
        return PaymentSession(reference=intent.id, client_secret=intent.client_secret)

    def payment_state(self, reference: str) -> PaymentState:
        try:
            intent = client().v1.payment_intents.retrieve(reference)
        except stripe.StripeError as exc:
            raise GatewayError(f"Could not read payment {reference}") from exc
        error = getattr(intent, "last_payment_error", None)
        return PaymentState(
            reference=intent.id,
            succeeded=intent.status == "succeeded",
            failed=intent.status in ("requires_payment_method", "canceled") and error is not None,
            amount_cents=int(getattr(intent, "amount_received", 0) or intent.amount),
            currency=intent.currency.upper(),
            failure_message=(getattr(error, "message", "") or "") if error else "",
        )

    def refund_for_payment(self, reference: str) -> RefundOutcome | None:
        """The refund Stripe holds for this payment, if any (succeeded or on its way)."""
        try:
            refunds = client().v1.refunds.list(params={"payment_intent": reference, "limit": 100})
        except stripe.StripeError as exc:
            raise GatewayError(f"Could not read the refunds of {reference}") from exc
        for refund in refunds.data:
            if refund.status in ("succeeded", "pending"):
                return RefundOutcome(
                    refund_id=refund.id, succeeded=True, amount_cents=refund.amount
                )
        return None

    def refund(self, *, reference: str, amount_cents: int, idempotency_key: str) -> RefundOutcome:
        # Look first: a retry after a timeout must find the refund, not make a second one
        # (Stripe also honours the idempotency key; localstripe does not).
        existing = self.refund_for_payment(reference)
        if existing is not None:
            return existing
        try:
            refund = client().v1.refunds.create(
                params={"payment_intent": reference, "amount": amount_cents},
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise GatewayError("The payment provider could not make the refund right now.") from exc
        return RefundOutcome(
            refund_id=refund.id,
            succeeded=refund.status in ("succeeded", "pending"),
            amount_cents=refund.amount,
        )
