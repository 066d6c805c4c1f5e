"""What a gift says: the recipient's address, the message, the delivery day.

Lower than ``gifts`` and ``cart_payments`` (both create gifts: a gift page's payment
and a gift line of an ordinary cart), so neither imports the other for it.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone

from accounts.services import normalise_email

from .models import Gift

MESSAGE_MAX = 2000


@dataclass(frozen=True)
class GiftDetails:
    recipient_email: str
    message: str
    deliver_on: date | None  # None: at once

    def deliver_at(self, *, now=None) -> datetime:
        now = now or timezone.now()
        if self.deliver_on is None:
            return now
        # The start of the day (UTC); today's is past, so today means at once.
        return max(now, datetime.combine(self.deliver_on, datetime.min.time(), tzinfo=UTC))


def details_error(details: GiftDetails, *, today: date | None = None) -> str | None:
    """Why these gift details cannot be used, or None (the service checks what the form did)."""
    try:
        validate_email(details.recipient_email)
    except ValidationError:
        return "Enter the recipient's e-mail address (like friend@example.com)."
    if len(details.message) > MESSAGE_MAX:
        return f"The message can be at most {MESSAGE_MAX} characters."
    today = today or timezone.now().astimezone(UTC).date()
    if details.deliver_on is not None and details.deliver_on < today:
        return "The delivery date is in the past: choose today or a later day."
    return None


def normalised(details: GiftDetails) -> GiftDetails:
    return GiftDetails(
        recipient_email=normalise_email(details.recipient_email),
        message=(details.message or "").strip(),
        deliver_on=details.deliver_on,
    )


def create_gift(buyer, title: str, details: GiftDetails, *, payment=None) -> Gift:
    return Gift.objects.create(
        buyer=buyer,
        payment=payment,
        title=title[:300],
        recipient_email=details.recipient_email,
        message=details.message,
        deliver_at=details.deliver_at(),
    )
