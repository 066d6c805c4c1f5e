"""Gifts: buying a book or a bundle for someone else, and what happens to it after.

A gift is a ``Gift`` row (the address, the message, the day) and a cart ``Payment``
whose orders carry it: each order is an ordinary sale for the buyer (royalty,
ledger, 60-day refund) except that the book is not the buyer's. It is granted to
whoever claims the gift (``claim``), with ``order_ref`` = the order, no refund
link (the recipient never sees what was paid) and free updates like any copy.

Rules (docs/architecture.md, "Gifts"):
- the delivery day is today or later; a past day is refused at the form, and a day
  that is already due when the payment comes in is delivered at once;
- the buyer may give a book they own (the gift is not their copy);
- the buyer resends, changes the address (a new claim link: the old one dies) and
  refunds only while the gift is unclaimed, within the refund window;
- a recipient who owns every book of the gift already cannot claim it into that
  account: they pass it on to another address (``pass_on``), the same as the buyer
  changing the address. Owning some of a bundle's books: the claim grants the rest.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from accounts.services import normalise_email
from catalog import bundles
from catalog.models import Book, Bundle
from library.services import grant_entitlement, owns

from . import bundle_purchases, cart_payments, credits, gift_delivery, refunds, services
from .models import Gift, Order, Payment, Refund

MESSAGE_MAX = 2000


class GiftError(services.CheckoutError):
    """Why a gift cannot be bought, claimed or changed; fit to show."""


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


def _checked(details: GiftDetails) -> GiftDetails:
    details = GiftDetails(
        recipient_email=normalise_email(details.recipient_email),
        message=(details.message or "").strip(),
        deliver_on=details.deliver_on,
    )
    error = details_error(details)
    if error:
        raise GiftError(error)
    return details


def place_book_gift(
    *, buyer, book: Book, amount_cents: int, details: GiftDetails, checkout_token: uuid.UUID
) -> Payment:
    """The payment of a gift of one book at ``amount_cents`` (the book's own price
    rules), or the payment this page placed already (a double click)."""
    details = _checked(details)
    line = cart_payments.LineChoice(book, amount_cents)
    error = cart_payments.line_error(None, line)  # ownership is the recipient's matter
    if error:
        raise GiftError(error)
    if amount_cents == 0:
        raise GiftError("This book is free: send your friend its link instead.")
    with transaction.atomic():
        credits.lock_reader(buyer)
        existing = cart_payments.payment_of_page(buyer, checkout_token)
        if existing is not None:
            return existing
        gift = _create_gift(buyer, book.title, details)
        payment = cart_payments.create_payment(
            buyer=buyer, lines=[line], checkout_token=checkout_token, order_fields={"gift": gift}
        )
        _attach(gift, payment)
    return payment


def place_bundle_gift(
    *, buyer, bundle_id: int, amount_cents: int, details: GiftDetails, checkout_token: uuid.UUID
) -> Payment:
    """The payment of a gift of a whole bundle (every book: what the buyer owns does
    not matter), split across its books as a bundle sale is."""
    details = _checked(details)
    with transaction.atomic():
        credits.lock_reader(buyer)
        existing = cart_payments.payment_of_page(buyer, checkout_token)
        if existing is not None:
            return existing
        bundle = bundles.with_books(Bundle.objects.filter(pk=bundle_id)).get()
        problems = bundles.listing_problems(bundle)
        if problems:
            raise GiftError(f"This bundle cannot be bought now: {' '.join(problems)}")
        offer = bundle_purchases.offer_for(bundle, NOBODY)
        error = offer.amount_error(amount_cents)
        if error:
            raise GiftError(error)
        gift = _create_gift(buyer, bundle.title, details)
        lines = [
            cart_payments.LineChoice(part.book, part.price_cents)
            for part in offer.parts(amount_cents)
        ]
        payment = cart_payments.create_payment(
            buyer=buyer,
            lines=lines,
            checkout_token=checkout_token,
            order_fields={
                "gift": gift,
                "bundle": bundle,
                "bundle_sale": bundle_purchases.sale_id(checkout_token),
            },
        )
        _attach(gift, payment)
    return payment


class _Nobody:
    """A reader who owns nothing: a bundle's full offer, whoever gives it."""

    is_authenticated = False


NOBODY = _Nobody()


def _create_gift(buyer, title: str, details: GiftDetails) -> Gift:
    return Gift.objects.create(
        buyer=buyer,
        title=title[:300],
        recipient_email=details.recipient_email,
        message=details.message,
        deliver_at=details.deliver_at(),
    )


def _attach(gift: Gift, payment: Payment) -> None:
    if gift.orders.exists():  # this page's payment was placed by this very call
        gift.payment = payment
        gift.save(update_fields=["payment"])
    else:  # the same page won a race meanwhile: this gift pays for nothing
        gift.delete()


# --- the buyer's side --------------------------------------------------------


def _buyers_gift(gift_id: int, buyer) -> Gift:
    """The buyer's gift, locked; GiftError for anyone else's (never tell whose)."""
    gift = Gift.objects.select_for_update(of=("self",)).select_related("buyer")
    gift = gift.filter(pk=gift_id, buyer=buyer).first()
    if gift is None:
        raise GiftError("No such gift.")
    return gift


def resend(*, gift_id: int, buyer) -> Gift:
    """Send the claim e-mail again (a sent, unclaimed gift): a new e-mail, same link."""
    with transaction.atomic():
        gift = _buyers_gift(gift_id, buyer)
        if gift.status != Gift.Status.SENT:
            raise GiftError(_why_not(gift, "resent"))
        gift_delivery.send_claim_email(gift)
    return gift


def change_address(*, gift_id: int, buyer, recipient_email: str) -> Gift:
    """A new address for an unclaimed gift: a new claim link (the old one stops
    working); a gift sent already is sent again to the new address at once."""
    email = normalise_email(recipient_email)
    try:
        validate_email(email)
    except ValidationError:
        raise GiftError("Enter the recipient's e-mail address (like friend@example.com).") from None
    with transaction.atomic():
        gift = _buyers_gift(gift_id, buyer)
        _readdress(gift, email)
    return gift


def _readdress(gift: Gift, email: str) -> None:
    if gift.status not in (Gift.Status.PENDING, Gift.Status.SCHEDULED, Gift.Status.SENT):
        raise GiftError(_why_not(gift, "changed"))
    gift.recipient_email = email
    gift.claim_token = uuid.uuid4()
    gift.save(update_fields=["recipient_email", "claim_token"])
    if gift.status == Gift.Status.SENT:
        gift_delivery.send_claim_email(gift)


def _why_not(gift: Gift, what: str) -> str:
    return {
        Gift.Status.CLAIMED: f"This gift was claimed already: it cannot be {what}.",
        Gift.Status.REFUNDED: f"This gift was refunded: it cannot be {what}.",
        Gift.Status.PENDING: f"This gift is not paid yet: it cannot be {what}.",
        Gift.Status.FAILED: f"This gift was not paid: it cannot be {what}.",
        Gift.Status.SCHEDULED: f"This gift is not delivered yet: it cannot be {what}.",
    }.get(gift.status, f"This gift cannot be {what}.")


def refund(*, gift_id: int, buyer, reason: str = "") -> list[refunds.RefundResult]:
    """Refund a gift: every paid order of it (a bundle's books together), only while
    it is unclaimed and within the refund window. Refunded orders are skipped, so a
    second click refunds nothing twice; a claim racing it is decided by the order
    locks (``claim`` takes them and refuses once a refund exists)."""
    gift = Gift.objects.filter(pk=gift_id, buyer=buyer).first()
    if gift is None:
        raise refunds.RefundError("No such gift.")
    orders = list(gift.orders.order_by("pk"))
    payable = [order for order in orders if refunds.refund_refusal(order, buyer) is None]
    if not payable:
        raise refunds.RefundError(
            refunds.refund_refusal(orders[0], buyer) if orders else "Nothing to refund."
        )
    return [
        refunds.refund_order(order_id=order.pk, actor=buyer, reason=reason) for order in payable
    ]


# --- the recipient's side ----------------------------------------------------


def gift_for_token(token) -> Gift | None:
    """The gift a claim link names, for its page: no lock, no price."""
    return Gift.objects.select_related("buyer").filter(claim_token=token).first()


def books_of(gift: Gift) -> list[Book]:
    return [order.book for order in gift.orders.select_related("book").order_by("pk")]


def claim(*, token, user) -> Gift:
    """Put the gift's books in ``user``'s library, once.

    Locks the gift's paid orders (the lock a refund takes), then the gift: a claim and
    a refund at once end with one of them. A second claim of the same link, a link
    replaced by a new address, a refunded gift: GiftError, nothing changes. A user who
    owns every book already: GiftError telling them to pass it on."""
    gift_id = Gift.objects.filter(claim_token=token).values_list("pk", flat=True).first()
    if gift_id is None:
        raise GiftError("This gift link is not valid any more (the giver may have changed it).")
    with transaction.atomic():
        orders = list(
            Order.objects.select_for_update(of=("self",))
            .filter(gift_id=gift_id)
            .select_related("book")
            .order_by("pk")
        )
        gift = Gift.objects.select_for_update().get(pk=gift_id)
        if gift.claim_token != uuid.UUID(str(token)):
            raise GiftError("This gift link is not valid any more (the giver may have changed it).")
        if gift.status == Gift.Status.CLAIMED:
            raise GiftError("This gift was claimed already.")
        if gift.status != Gift.Status.SENT:
            raise GiftError("This gift cannot be claimed (it was refunded or not delivered).")
        live = [o for o in orders if o.status == Order.Status.PAID]
        if not live or Refund.objects.filter(order__in=live).exclude(status="denied").exists():
            raise GiftError("This gift was refunded: it cannot be claimed.")
        new = [o for o in live if not owns(user, o.book)]
        if not new:
            raise AlreadyOwnsGift(
                "You own this already. Pass the gift on to someone else below: "
                "they get a new link, and this one stops working."
            )
        now = timezone.now()
        for order in new:
            grant_entitlement(user=user, book=order.book, at=now, order_ref=order.public_id)
        gift.status = Gift.Status.CLAIMED
        gift.claimed_at = now
        gift.claimed_by = user
        gift.save(update_fields=["status", "claimed_at", "claimed_by"])
    return gift


class AlreadyOwnsGift(GiftError):
    pass


def pass_on(*, token, user, recipient_email: str) -> Gift:
    """A recipient who owns the gift's books sends it on to another address (a new
    link; theirs stops working). Only for the holder of the current link who owns
    every book of it, while it is unclaimed."""
    email = normalise_email(recipient_email)
    try:
        validate_email(email)
    except ValidationError:
        raise GiftError("Enter the new recipient's e-mail address.") from None
    with transaction.atomic():
        gift = Gift.objects.select_for_update(of=("self",)).select_related("buyer")
        gift = gift.filter(claim_token=token).first()
        if gift is None:
            raise GiftError("This gift link is not valid any more.")
        if gift.status != Gift.Status.SENT:
            raise GiftError(_why_not(gift, "passed on"))
        if not all(owns(user, book) for book in books_of(gift)):
            raise GiftError("Claim the gift instead: it holds a book you do not own.")
        _readdress(gift, email)
    return gift


def gifts_of(buyer):
    """The buyer's gifts for their gift list (paid ones and waiting ones)."""
    return (
        Gift.objects.filter(buyer=buyer).exclude(status=Gift.Status.FAILED).order_by("-created_at")
    )


def refund_until(gift: Gift):
    first = gift.orders.filter(status="paid").order_by("pk").first()
    return refunds.refund_deadline(first) if first else None
