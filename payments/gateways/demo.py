"""The demo gateway: our own local payment page with test cards, no provider.

Card 4242 4242 4242 4242 succeeds; 4000 0000 0000 0002 is declined. The demo
payment page hands the result to the same service functions a webhook does.
"""

import re

from .base import PaymentSession, PaymentStart, PaymentState, RefundOutcome

SUCCEEDING_CARD = "4242424242424242"
DECLINED_CARD = "4000000000000002"
DECLINE_MESSAGE = "Your card was declined. Try another card."


class DemoGateway:
    name = "demo"

    def start_payment(self, request: PaymentStart) -> PaymentSession:
        return PaymentSession(reference=f"demo_{request.public_id}")

    def resume_payment(self, reference: str) -> PaymentSession:
        return PaymentSession(reference=reference)

    def payment_state(self, reference: str) -> PaymentState:  # pragma: no cover - nothing to ask
        raise NotImplementedError("The demo gateway has no provider to ask.")

    def refund_for_payment(self, reference: str) -> RefundOutcome | None:  # pragma: no cover
        return None  # the demo gateway sends no refund events

    def refund_state(self, refund_id: str) -> RefundOutcome:  # pragma: no cover
        raise NotImplementedError("the demo gateway sends no refund events")

    def refunds_of_payment(self, reference: str) -> list[RefundOutcome]:  # pragma: no cover
        return []  # the demo gateway sends no refund events

    def refund(
        self, *, reference: str, amount_cents: int, idempotency_key: str, whole: bool = True
    ) -> RefundOutcome:
        # Deterministic id: asking twice for the same refund names the same refund.
        return RefundOutcome(
            refund_id=f"demo_re_{idempotency_key}",
            succeeded=True,
            amount_cents=amount_cents,
            key=idempotency_key,
        )

    @staticmethod
    def charge(card_number: str) -> tuple[bool, str]:
        """(succeeded, message) for a test card number typed on the demo page."""
        digits = re.sub(r"[\s-]", "", card_number or "")
        if digits == SUCCEEDING_CARD:
            return True, ""
        if digits == DECLINED_CARD:
            return False, DECLINE_MESSAGE
        if not digits.isdigit() or not 12 <= len(digits) <= 19:
            return False, "Enter a card number of 12 to 19 digits."
        return False, "This demo store accepts only its test cards: use 4242 4242 4242 4242."
