"""Stripe: PaymentIntents with the Payment Element; fulfilment only from webhooks."""

import stripe
from django.conf import settings

from .base import GatewayError, PaymentSession, PaymentStart, PaymentState


def client() -> stripe.StripeClient:
    options = {}
    if settings.STRIPE_API_BASE:  # localstripe in tests
        options["base_addresses"] = {"api": settings.STRIPE_API_BASE}
    return stripe.StripeClient(settings.STRIPE_SECRET_KEY, **options, max_network_retries=2)


class StripeGateway:
    name = "stripe"

    def start_payment(self, request: PaymentStart) -> PaymentSession:
        try:
            intent = client().v1.payment_intents.create(
                params={
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
                },
                options={"idempotency_key": request.idempotency_key},
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
