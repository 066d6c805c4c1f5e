"""Stripe: PaymentIntents with the Payment Element; fulfilment only from webhooks."""

from datetime import UTC, datetime

import stripe
from django.conf import settings

from .base import (
    GatewayError,
    InvoiceState,
    Movement,
    PaymentSession,
    PaymentStart,
    PaymentState,
    RefundOutcome,
    SubscriptionState,
)

# localstripe (STRIPE_API_BASE, in tests) answers 400 "Unexpected description,
# receipt_email" to PaymentIntent fields it does not model; real Stripe gets them.
LOCALSTRIPE_UNSUPPORTED = frozenset({"description", "receipt_email"})
PAGE_SIZE = 100  # objects per list request (Stripe's maximum)


def client() -> stripe.StripeClient:
    options = {}
    if settings.STRIPE_API_BASE:  # localstripe in tests
        options["base_addresses"] = {"api": settings.STRIPE_API_BASE}
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY,
        **options,
        max_network_retries=2,  # on timeouts too, with the same idempotency key
        # The library waits 80 s per try by default: a stalled refund would hold a
        # web request for four minutes, past any worker timeout, and leave the refund
        # "processing" when the worker is killed. Give up sooner, as "failed".
        http_client=stripe.RequestsClient(timeout=settings.STRIPE_TIMEOUT),
    )


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
        return PaymentSession(
            reference=intent.id, client_secret=intent.client_secret, page="stripe"
        )

    def resume_payment(self, reference: str) -> PaymentSession:
        try:
            intent = client().v1.payment_intents.retrieve(reference)
        except stripe.StripeError as exc:
            raise GatewayError("The payment provider is not answering; please try again.") from exc
        return PaymentSession(
            reference=intent.id, client_secret=intent.client_secret, page="stripe"
        )

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
                return _refund_outcome(refund)
        return None

    def refunds_of_payment(self, reference: str) -> list[RefundOutcome]:
        try:
            refunds = client().v1.refunds.list(params={"payment_intent": reference, "limit": 100})
        except stripe.StripeError as exc:
            raise GatewayError(f"Could not read the refunds of {reference}") from exc
        return [_refund_outcome(refund) for refund in refunds.data]

    def refund_state(self, refund_id: str) -> RefundOutcome | None:
        try:
            refund = client().v1.refunds.retrieve(refund_id)
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None
            raise GatewayError(f"Could not read the refund {refund_id}") from exc
        except stripe.StripeError as exc:
            raise GatewayError(f"Could not read the refund {refund_id}") from exc
        return _refund_outcome(refund)

    def refund(
        self, *, reference: str, amount_cents: int, idempotency_key: str, whole: bool = True
    ) -> RefundOutcome:
        # Look first: a retry after a timeout must find the refund, not make a second one
        # (Stripe also honours the idempotency key; localstripe does not). A partial
        # refund of a cart is found by its key: the payment's other lines have their own.
        for existing in self.refunds_of_payment(reference):
            if existing.key == idempotency_key and existing.status not in ("failed", "canceled"):
                return existing
        if whole:
            existing = self.refund_for_payment(reference)
            if existing is not None:
                return existing
        try:
            refund = client().v1.refunds.create(
                params={
                    "payment_intent": reference,
                    "amount": amount_cents,
                    "metadata": {"refund_key": idempotency_key},
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.StripeError as exc:
            raise GatewayError("The payment provider could not make the refund right now.") from exc
        return _refund_outcome(refund)

    # --- Reconciliation -------------------------------------------------------------

    def movements(self, start: datetime, end: datetime) -> list[Movement]:
        """Captures (succeeded charges, by their payment) and refunds created in
        [start, end), every page of them."""
        window = {"gte": int(start.timestamp()), "lt": int(end.timestamp())}
        try:
            charges = _list_all(client().v1.charges, _created_filter(window))
            refunds = _list_all(
                client().v1.refunds, {} if settings.STRIPE_API_BASE else {"created": window}
            )
        except stripe.StripeError as exc:
            raise GatewayError("Could not list the provider's charges and refunds") from exc
        found = []
        for charge in charges:
            if charge.get("status") != "succeeded" or not charge.get("captured", True):
                continue
            found.append(
                Movement(
                    kind="capture",
                    reference=_id(charge.get("payment_intent")) or charge["id"],
                    amount_cents=int(charge.get("amount_captured") or charge["amount"]),
                    currency=charge["currency"].upper(),
                    at=_when(charge["created"]),
                    note=charge["id"],
                )
            )
        for refund in refunds:
            if refund.get("status") not in ("succeeded", "pending"):
                continue
            found.append(
                Movement(
                    kind="refund",
                    reference=refund["id"],
                    amount_cents=int(refund["amount"]),
                    currency=refund["currency"].upper(),
                    at=_when(refund["created"]),
                    note=_id(refund.get("payment_intent")) or _id(refund.get("charge")),
                )
            )
        return [m for m in found if start <= m.at < end]

    def invoice_payment(self, reference: str) -> str:
        """The PaymentIntent that paid a (subscription) invoice, or "" if none."""
        try:
            data = client().v1.invoices.retrieve(reference).to_dict()
            if "payment_intent" not in data:
                # API versions since 2025 list an invoice's payments instead.
                data = (
                    client()
                    .v1.invoices.retrieve(reference, params={"expand": ["payments"]})
                    .to_dict()
                )
        except stripe.StripeError as exc:
            raise GatewayError(f"Could not read invoice {reference}") from exc
        if data.get("payment_intent"):
            return _id(data["payment_intent"])
        for paid in (data.get("payments") or {}).get("data") or []:
            intent = _id((paid.get("payment") or {}).get("payment_intent"))
            if intent:
                return intent
        return ""

    # --- Subscriptions (the Reader Membership) ------------------------------------

    def create_customer(self, *, email: str, user_id: int) -> str:
        try:
            customer = client().v1.customers.create(
                params={"email": email, "metadata": {"user_id": str(user_id)}},
                options={"idempotency_key": f"customer-user-{user_id}"},
            )
        except stripe.StripeError as exc:
            raise GatewayError("The payment provider is not answering; please try again.") from exc
        return customer.id

    def setup_card(self, *, customer: str) -> PaymentSession:
        """A SetupIntent: the Payment Element saves the card the subscription charges."""
        try:
            intent = client().v1.setup_intents.create(
                params={"customer": customer, "payment_method_types": ["card"]}
            )
        except stripe.StripeError as exc:
            raise GatewayError("The payment provider is not answering; please try again.") from exc
        return PaymentSession(
            reference=intent.id, client_secret=intent.client_secret, page="stripe"
        )

    def setup_payment_method(self, setup_intent: str) -> str:
        """The card a confirmed SetupIntent saved ("" until it succeeded)."""
        try:
            intent = client().v1.setup_intents.retrieve(setup_intent)
        except stripe.StripeError as exc:
            raise GatewayError("The payment provider is not answering; please try again.") from exc
        if intent.status != "succeeded":
            return ""
        method = intent.payment_method
        return method if isinstance(method, str) else method.id

    def create_subscription(
        self, *, customer, price, payment_method, idempotency_key, metadata
    ) -> SubscriptionState:
        try:
            api = client().v1
            api.payment_methods.attach(payment_method, params={"customer": customer})
            api.customers.update(
                customer,
                params={"invoice_settings": {"default_payment_method": payment_method}},
            )
            subscription = api.subscriptions.create(
                params={
                    "customer": customer,
                    "items": [_price_item(price)],
                    "metadata": metadata,
                    # A declined first payment is an error now, not an incomplete subscription.
                    "payment_behavior": "error_if_incomplete",
                },
                options={"idempotency_key": idempotency_key},
            )
        except stripe.CardError as exc:
            raise GatewayError(exc.user_message or "Your card was declined.") from exc
        except stripe.StripeError as exc:
            raise GatewayError("The payment provider is not answering; please try again.") from exc
        return _subscription_state(subscription)

    def set_cancel_at_period_end(self, reference: str, cancel: bool) -> SubscriptionState:
        try:
            subscription = client().v1.subscriptions.update(
                reference, params={"cancel_at_period_end": cancel}
            )
        except stripe.StripeError as exc:
            raise GatewayError("The payment provider is not answering; please try again.") from exc
        return _subscription_state(subscription)

    def subscription_state(self, reference: str) -> SubscriptionState:
        try:
            return _subscription_state(client().v1.subscriptions.retrieve(reference))
        except stripe.StripeError as exc:
            raise GatewayError(f"Could not read subscription {reference}") from exc

    def invoice_state(self, reference: str) -> InvoiceState:
        try:
            invoice = client().v1.invoices.retrieve(reference)
        except stripe.StripeError as exc:
            raise GatewayError(f"Could not read invoice {reference}") from exc
        data = invoice.to_dict()
        subscription = data.get("subscription") or (
            ((data.get("parent") or {}).get("subscription_details") or {}).get("subscription")
        )
        lines = (data.get("lines") or {}).get("data") or []
        period_end = (lines[0].get("period") or {}).get("end") if lines else None
        return InvoiceState(
            reference=invoice.id,
            subscription=subscription if isinstance(subscription, str) else "",
            paid=data.get("status") == "paid",
            amount_cents=int(data.get("amount_paid") or 0),
            period_end=_when(period_end),
        )


def _created_filter(window: dict) -> dict:
    # localstripe filters charges on created[gt] alone (and refunds not at all); the
    # window is applied again on our side, so a wider listing is only slower.
    if settings.STRIPE_API_BASE:
        return {"created": {"gt": window["gte"] - 1}}
    return {"created": window}


def _list_all(resource, params: dict) -> list[dict]:
    """Every object of a list endpoint, page after page (starting_after)."""
    found, params = [], {**params, "limit": PAGE_SIZE}
    while True:
        page = resource.list(params=params)
        found += [item.to_dict() for item in page.data]
        if not page.has_more or not page.data:
            return found
        params["starting_after"] = page.data[-1].id


def _id(value) -> str:
    """An expandable field: an id, or the object itself."""
    if isinstance(value, dict):
        return value.get("id", "")
    return value if isinstance(value, str) else ""


def _price_item(price: str) -> dict:
    # Legacy Plan ids (plan_...: what localstripe models) or Price ids (price_...).
    return {"plan": price} if price.startswith("plan_") else {"price": price}


def _when(timestamp) -> datetime | None:
    return datetime.fromtimestamp(int(timestamp), tz=UTC) if timestamp else None


def _subscription_state(subscription) -> SubscriptionState:
    data = subscription.to_dict()
    end = data.get("current_period_end")
    if end is None:  # API versions since 2025 keep the period on the items
        items = (data.get("items") or {}).get("data") or []
        end = items[0].get("current_period_end") if items else None
    return SubscriptionState(
        reference=data["id"],
        status=data.get("status", ""),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        current_period_end=_when(end),
    )


def _metadata(obj) -> dict:
    """An object's metadata as a plain dict (a StripeObject is not one)."""
    metadata = getattr(obj, "metadata", None)
    if metadata is None:
        return {}
    return metadata.to_dict() if hasattr(metadata, "to_dict") else dict(metadata)


def _refund_outcome(refund) -> RefundOutcome:
    return RefundOutcome(
        refund_id=refund.id,
        succeeded=refund.status in ("succeeded", "pending"),
        amount_cents=refund.amount,
        status=refund.status,
        payment=_id(getattr(refund, "payment_intent", None)) or "",
        key=_metadata(refund).get("refund_key") or "",
    )
