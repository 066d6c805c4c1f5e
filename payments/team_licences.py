"""Team licences: N seats of one book for a team, in one payment.

A licence is a cart ``Payment`` with one order per seat at the per-seat price the
author allows (``seat_price``): each seat is its own sale, with the royalty of the
one rule on the per-seat price and the usual co-author split, its own ledger
transaction and its own refund. The manager invites a reader per seat; the reader
claims the seat (``claim_seat``) and gets the book with free updates
(``order_ref`` = the seat's order; no refund link: the manager paid). A seat whose
reader has not downloaded the book yet can be given to someone else (``reassign``):
the first reader loses the book, the new one gets a new link.

Refunds (docs/architecture.md, "Team licences"): within the refund window, any seat
whose book was not downloaded is refunded alone, as a partial refund of the
payment; "refund the licence" refunds every such seat at once. So the whole
licence is refundable while no seat is used, and the unused seats after that.
"""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from accounts.services import normalise_email
from catalog.models import Book
from core.mail import queue_templated_email
from core.money import MIN_PAID_PRICE_CENTS
from core.reader_pages import forget_reader
from library.models import Entitlement
from library.services import grant_entitlement, owns, revoke_entitlement

from . import cart_payments, credits, refunds, services
from .models import Order, Payment, Refund, Seat, TeamLicence

MIN_SEATS = 2
MAX_SEATS = 500


class LicenceError(services.CheckoutError):
    """Why a licence cannot be bought, or a seat invited, claimed or moved; fit to show."""


def seat_price(book: Book) -> int | None:
    """What one seat costs: the suggested price less the author's seat discount, never
    below the book's minimum nor into the invalid 1–98¢ band. None: not offered."""
    if not book.team_licences or book.is_free:
        return None
    suggested = max(book.suggested_price_cents, book.minimum_price_cents)
    discounted = suggested * (100 - book.team_seat_discount_percent)
    price = max(book.minimum_price_cents, (discounted + 50) // 100)
    return max(price, MIN_PAID_PRICE_CENTS)


def place_licence(*, manager, book: Book, seats: int, checkout_token: uuid.UUID) -> Payment:
    """The payment of ``seats`` seats (one order each at the seat price), or the one
    this page placed already (a double click)."""
    price = seat_price(book)
    if price is None or not book.is_listed:
        raise LicenceError("Team licences are not offered for this book.")
    if not MIN_SEATS <= seats <= MAX_SEATS:
        raise LicenceError(f"A team licence has {MIN_SEATS} to {MAX_SEATS} seats.")
    with transaction.atomic():
        credits.lock_reader(manager)
        existing = cart_payments.payment_of_page(manager, checkout_token)
        if existing is not None:
            return existing
        payment = cart_payments.create_payment(
            buyer=manager,
            lines=[cart_payments.LineChoice(book, price, key=f"-seat-{n}") for n in range(seats)],
            checkout_token=checkout_token,
        )
        if TeamLicence.objects.filter(payment=payment).exists():
            return payment
        licence = TeamLicence.objects.create(
            manager=manager, book=book, payment=payment, seat_price_cents=price
        )
        orders = list(payment.orders.order_by("pk"))
        Order.objects.filter(pk__in=[o.pk for o in orders]).update(team_licence=licence)
        Seat.objects.bulk_create([Seat(licence=licence, order=order) for order in orders])
        forget_reader(manager.pk)  # update() and bulk_create send no signal
    return payment


def _managers_licence(licence_id: int, manager) -> TeamLicence:
    licence = (
        TeamLicence.objects.select_related("book", "payment", "manager")
        .filter(pk=licence_id, manager=manager)
        .first()
    )
    if licence is None:
        raise LicenceError("No such team licence.")
    return licence


def clean_addresses(text: str, *, limit: int) -> list[str]:
    """Addresses typed one per line (or separated by commas), checked and unique.
    LicenceError names the first bad one, or says there are more than ``limit``."""
    parts = [p.strip() for p in text.replace(",", "\n").splitlines() if p.strip()]
    if not parts:
        raise LicenceError("Enter at least one e-mail address.")
    if len(parts) > limit:
        raise LicenceError(
            f"You typed {len(parts)} addresses but have {limit} free seat{'s' if limit != 1 else ''}."
        )
    addresses = []
    for part in parts:
        email = normalise_email(part)
        try:
            validate_email(email)
        except ValidationError:
            raise LicenceError(f"“{part[:80]}” is not an e-mail address.") from None
        if email not in addresses:
            addresses.append(email)
    return addresses


def invite(*, licence_id: int, manager, addresses: list[str]) -> list[Seat]:
    """Give each address a free seat and e-mail it a claim link. Refused as a whole
    (nothing sent) when there are fewer free seats than addresses or the licence is
    not paid; an address that has a seat already is not given a second one."""
    with transaction.atomic():
        licence = _managers_licence(licence_id, manager)
        if licence.payment.status != Payment.Status.PAID:
            raise LicenceError("This licence is not paid yet.")
        seats = list(
            Seat.objects.select_for_update(of=("self",))
            .filter(licence=licence, closed_at__isnull=True)
            .select_related("order")
            .order_by("pk")
        )
        taken = {seat.email for seat in seats if seat.email}
        wanted = [email for email in addresses if email not in taken]
        free = [seat for seat in seats if not seat.email]
        if len(wanted) > len(free):
            raise LicenceError(
                f"{len(wanted)} new addresses but {len(free)} free seat{'s' if len(free) != 1 else ''}."
            )
        invited = []
        for seat, email in zip(free, wanted, strict=False):
            seat.email = email
            seat.save(update_fields=["email"])
            _send_invitation(seat, licence)
            invited.append(seat)
    return invited


def reassign(*, seat_id: int, manager, email: str) -> Seat:
    """Give a seat to another reader while its book has not been downloaded: the first
    reader loses it (if they claimed it), the new one gets a new link (the old dies)."""
    [address] = clean_addresses(email, limit=1)
    with transaction.atomic():
        seat = (
            Seat.objects.select_for_update(of=("self",))
            .select_related("licence__book", "licence__manager", "order", "holder")
            .filter(pk=seat_id, licence__manager=manager)
            .first()
        )
        if seat is None:
            raise LicenceError("No such seat.")
        if seat.closed_at is not None:
            raise LicenceError("This seat was refunded.")
        if refunds.seat_used(seat.order):
            raise LicenceError("This seat's reader downloaded the book: it cannot be moved.")
        if seat.licence.seats.filter(email=address).exclude(pk=seat.pk).exists():
            raise LicenceError(f"{address} has a seat already.")
        if seat.holder_id:
            revoke_entitlement(
                user=seat.holder, book=seat.licence.book, order_ref=seat.order.public_id
            )
        seat.email = address
        seat.holder = None
        seat.claimed_at = None
        seat.claim_token = uuid.uuid4()
        seat.save(update_fields=["email", "holder", "claimed_at", "claim_token"])
        _send_invitation(seat, seat.licence)
    return seat


def _send_invitation(seat: Seat, licence: TeamLicence) -> None:
    seat.invites += 1
    seat.save(update_fields=["invites"])
    queue_templated_email(
        key=f"seat-invite:seat-{seat.pk}:{seat.invites}",
        to=seat.email,
        template="email/seat_invitation",
        context={
            "book": licence.book,
            "manager": licence.manager.get_full_name() or licence.manager.email,
            "claim_url": settings.SITE_URL
            + reverse("payments:seat_claim", kwargs={"token": seat.claim_token}),
        },
    )


def seat_for_token(token) -> Seat | None:
    return (
        Seat.objects.select_related("licence__book", "licence__manager")
        .filter(claim_token=token, closed_at__isnull=True)
        .first()
    )


def claim_seat(*, token, user) -> Seat:
    """Put the seat's book in ``user``'s library, once (the seat's order locked first:
    the lock a refund takes). A reader who owns the book already is refused: the
    manager can give the seat to someone else."""
    seat_id = Seat.objects.filter(claim_token=token).values_list("pk", flat=True).first()
    if seat_id is None:
        raise LicenceError("This seat link is not valid any more (the seat may have moved).")
    with transaction.atomic():
        order = Order.objects.select_for_update(of=("self",)).get(seat__pk=seat_id)
        seat = Seat.objects.select_for_update(of=("self",)).select_related("licence__book")
        seat = seat.get(pk=seat_id)
        if seat.claim_token != uuid.UUID(str(token)):
            raise LicenceError("This seat link is not valid any more (the seat may have moved).")
        if seat.closed_at is not None or order.status != Order.Status.PAID:
            raise LicenceError("This seat was refunded.")
        if Refund.objects.filter(order=order).exclude(status="denied").exists():
            raise LicenceError("This seat is being refunded.")
        if seat.holder_id is not None:
            raise LicenceError("This seat was claimed already.")
        book = seat.licence.book
        if owns(user, book):
            raise LicenceError(
                "You own this book already: ask your team manager to give the seat to someone else."
            )
        now = timezone.now()
        grant_entitlement(user=user, book=book, at=now, order_ref=order.public_id)
        seat.holder = user
        seat.claimed_at = now
        seat.save(update_fields=["holder", "claimed_at"])
    return seat


def refund_unused(*, licence_id: int, manager, reason: str = "") -> list[refunds.RefundResult]:
    """Refund every seat nobody downloaded (within the window): the whole licence while
    no seat is used. Refunded seats are skipped: a second click refunds nothing twice."""
    licence = _managers_licence(licence_id, manager)
    orders = list(licence.orders.order_by("pk"))
    payable = [o for o in orders if refunds.refund_refusal(o, manager) is None]
    if not payable:
        raise refunds.RefundError(
            refunds.refund_refusal(orders[0], manager) if orders else "Nothing to refund."
        )
    return [
        refunds.refund_order(order_id=order.pk, actor=manager, reason=reason) for order in payable
    ]


def seats_of(licence: TeamLicence) -> list[Seat]:
    """The licence's seats for its page, each with ``used`` (downloaded) set: 2 queries."""
    seats = list(licence.seats.select_related("order", "holder").order_by("pk"))
    used = set(
        Entitlement.objects.filter(
            order_ref__in=[seat.order.public_id for seat in seats],
            last_downloaded_at__isnull=False,
        ).values_list("order_ref", flat=True)
    )
    for seat in seats:
        seat.used = seat.holder_id is not None and seat.order.public_id in used
    return seats
