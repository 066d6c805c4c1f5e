"""The gateway interface. Inputs and outputs are small dataclasses, never ORM
objects: gateway code talks to the payment provider, never to the database."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol


class GatewayError(Exception):
    """The provider could not be reached or refused the request; safe to show."""


@dataclass(frozen=True)
class PaymentStart:
    order_id: int
    public_id: str
    amount_cents: int
    currency: str
    description: str
    idempotency_key: str
    customer_email: str
    metadata: dict = field(default_factory=dict)


@dataclass(frozen=True)
class PaymentSession:
    reference: str  # the provider's id for this payment (a PaymentIntent id)
    client_secret: str = ""  # for Stripe.js
    # Which payment page takes the card: "card" (ours, the demo gateway's test
    # cards) or "stripe" (Stripe's Payment Element). Views choose by this, never
    # by the gateway's name.
    page: str = "card"


@dataclass(frozen=True)
class PaymentState:
    """What the provider says about a payment, re-read before we act on an event."""

    reference: str
    succeeded: bool
    failed: bool
    amount_cents: int
    currency: str
    failure_message: str = ""


@dataclass(frozen=True)
class RefundOutcome:
    refund_id: str
    succeeded: bool  # made, or on its way (Stripe "pending"): booked as refunded
    amount_cents: int
    status: str = "succeeded"  # the provider's word: succeeded, pending, failed, canceled
    payment: str = ""  # the payment (PaymentIntent) it refunds, when the provider says
    # The idempotency key we made it with ("" if made elsewhere): names the order
    # a partial refund of a cart payment is for.
    key: str = ""


@dataclass(frozen=True)
class SubscriptionState:
    reference: str  # the provider's subscription id
    status: str  # the provider's words: active, past_due, unpaid, canceled, incomplete...
    cancel_at_period_end: bool
    current_period_end: datetime | None


@dataclass(frozen=True)
class InvoiceState:
    reference: str
    subscription: str
    paid: bool
    amount_cents: int
    period_end: datetime | None


@dataclass(frozen=True)
class Movement:
    """Money that moved: a capture or a refund, as the provider (or we) record it.

    ``reference`` is what both sides know it by: a capture's payment (PaymentIntent)
    id, a refund's own id. Gateways with an outside side list theirs with
    ``movements(start, end)`` (the daily reconciliation)."""

    kind: str  # "capture" or "refund"
    reference: str
    amount_cents: int
    currency: str
    at: datetime
    note: str = ""  # e.g. the payment a refund belongs to


class Gateway(Protocol):
    name: str

    def start_payment(self, request: PaymentStart) -> PaymentSession: ...

    def resume_payment(self, reference: str) -> PaymentSession: ...

    def payment_state(self, reference: str) -> PaymentState: ...

    def refund(
        self, *, reference: str, amount_cents: int, idempotency_key: str, whole: bool = True
    ) -> RefundOutcome:
        """Refund ``amount_cents`` of the payment; returns the refund that exists if
        one was made already (so a retry never refunds twice). ``whole=False``: the
        payment pays several orders (a cart) and this refunds one of them; only a
        refund made with the same key is the same refund."""
        ...

    def refunds_of_payment(self, reference: str) -> list[RefundOutcome]:
        """Every refund the provider holds for this payment (a cart's partial ones)."""
        ...

    def refund_for_payment(self, reference: str) -> RefundOutcome | None:
        """The refund the provider holds for this payment, if any."""
        ...

    def refund_state(self, refund_id: str) -> RefundOutcome | None:
        """One refund re-read from the provider (a refund event is a trigger, not a
        truth); None if the provider knows no such refund."""
        ...
