"""One gateway payment for many book orders: paying a cart.

A ``Payment`` is one PaymentIntent (one demo card page) whose amount is the sum
of its orders. Each order stays one book at its own price and goes through the
one-book order path: ``services.mark_paid`` books its own sale, grants its book
and queues its receipt line; ``refunds`` refunds it alone, as a partial refund of
the payment. The payment's own moves are locked and idempotent like an order's:
a replayed or reordered event finds nothing to do.

Lock order: the reader first (``credits.lock_reader``), then the payment, then
each of its orders by id (``mark_paid`` asks for the reader again: held already).
Placing a cart takes the reader before it inserts the payment; fulfilling one
takes the reader before the payment. Either way round, two requests of one reader
(a double click: one fulfilling, one placing the same page) deadlocked on
PostgreSQL (test_two_tabs_paying_the_same_cart_at_once...).
"""

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.login_links import login_link_url
from catalog.models import Book
from core.mail import queue_templated_email
from core.reader_pages import forget_reader
from library.services import owns

from . import coupons, credits, gift_delivery, gift_details, services, tasks
from .gateways import GatewayError, PaymentStart, get_gateway
from .gateways.demo import DemoGateway
from .models import Order, Payment, TeamLicence
from .pricing import amount_error, price_range
from .refunds import refund_deadline
from .royalties import royalty_for

CheckoutError = services.CheckoutError


@dataclass(frozen=True)
class LineChoice:
    """What the reader asked for on the cart page: a book at an amount."""

    book: Book
    amount_cents: int
    # A bundle's book (payments.bundle_cart): its part of the bundle's amount, which
    # may be below the book's own minimum; its order carries the bundle and its sale.
    bundle: object = None
    bundle_sale: uuid.UUID | None = None
    # The coupon the line was added with (payments.coupons): its range, its use.
    coupon: object = None
    # Tells apart lines of the same book in one payment (a team licence's seats).
    key: str = ""
    # A cart line bought as a gift (payments.cart_gifts): its order carries a new
    # ``Gift``, as the gift page's does; the book is not the buyer's.
    gift: object = None  # gift_details.GiftDetails


def line_token(checkout_token: uuid.UUID, book_id: int, key: str = "") -> uuid.UUID:
    """The checkout token of one line's order: derived from the cart page's token, so
    a double click finds the same orders, and unique per line within the payment."""
    return uuid.uuid5(checkout_token, f"book-{book_id}{key}")


def line_error(buyer, line: LineChoice) -> str | None:
    """Why this line cannot be bought now, naming its book; None when it can
    (``buyer`` None: ownership is not asked, see ``place_cart_payment``)."""
    book = line.book
    if not book.is_listed:
        return f"“{book.title}” is no longer for sale: remove it from your cart."
    if line.coupon is not None:
        if line.bundle is not None and line.coupon.bundle_id != line.bundle.pk:
            return f"The coupon {line.coupon.code} is not for “{line.bundle.title}”."
        if line.bundle is None and line.coupon.book_id != book.pk:
            return f"The coupon {line.coupon.code} is not for “{book.title}”."
        problem = coupons.availability_problem(line.coupon) or coupons.reader_problem(
            line.coupon, buyer
        )
        if problem:
            return f"“{book.title}”: {problem}"
    bounds = (
        coupons.coupon_range(price_range(book), line.coupon)
        if line.coupon and line.bundle is None
        else None
    )
    error = amount_error(book, line.amount_cents, bounds) if line.bundle is None else None
    if error:
        return f"“{book.title}”: {error}"
    if buyer is not None and owns(buyer, book):
        return f"You own “{book.title}” already: it is in your library."
    return None


def place_cart_payment(
    *,
    buyer,
    lines: list[LineChoice],
    checkout_token: uuid.UUID,
    guest: bool = False,
    account_created: bool = False,
) -> Payment:
    """The payment of one cart checkout page, with one pending order per paid line,
    or the payment this page placed already (a double click, a reload).

    Every line is checked again here (listed, amount, not owned) under the reader's
    lock; one bad line refuses the whole cart and nothing is created. Free ($0)
    lines are not part of a payment: take them with ``services.place_order``.

    ``guest``: paid with only an e-mail address by a visitor who is not signed in.
    Then ownership is not checked here: refusing would tell the visitor that the
    address has an account and what it owns. A line for a book the account owns
    becomes a duplicate when the money comes in, refunded in full at once, and the
    receipt (sent to the address, not shown on a page) says so.
    """
    if not lines:
        raise CheckoutError("Your cart is empty.")
    if len({line.book.pk for line in lines}) != len(lines):
        raise CheckoutError("A book is twice in your cart.")
    if any(line.amount_cents == 0 for line in lines):
        raise CheckoutError("Free books are taken one by one, not paid for in a cart.")
    with transaction.atomic():
        credits.lock_reader(buyer)
        existing = _payment_of_page(buyer, checkout_token)
        if existing is not None:
            return existing
        for line in lines:
            # A gift line: ownership is the recipient's matter (as on the gift page).
            error = line_error(None if guest or line.gift else buyer, line)
            if not error and line.gift is not None:
                error = gift_details.details_error(gift_details.normalised(line.gift))
                error = error and f"The gift of “{line.book.title}”: {error}"
            if error:
                raise CheckoutError(error)
            if line.gift is not None:
                continue
            if not guest and Order.objects.charged_for(buyer, line.book).exists():
                raise services.AlreadyOwned(
                    f"You paid for “{line.book.title}” already: see your orders."
                )
        payment = create_payment(
            buyer=buyer,
            lines=lines,
            checkout_token=checkout_token,
            payment_fields={"guest_checkout": guest, "account_created": account_created},
        )
    return payment


def create_payment(
    *,
    buyer,
    lines: list[LineChoice],
    checkout_token: uuid.UUID,
    payment_fields: dict | None = None,
    order_fields: dict | None = None,
) -> Payment:
    """The payment and one pending order per line, inside the caller's transaction,
    once the caller took the reader's lock and checked the lines; or the payment the
    same page placed meanwhile. ``order_fields`` go on every order (a bundle's)."""
    existing = _payment_of_page(buyer, checkout_token)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            payment = Payment.objects.create(
                buyer=buyer,
                currency=lines[0].book.currency,
                amount_cents=sum(line.amount_cents for line in lines),
                gateway=settings.PAYMENT_GATEWAY,
                checkout_token=checkout_token,
                **(payment_fields or {}),
            )
    except IntegrityError:  # the same page posted twice at once: the other won
        existing = _payment_of_page(buyer, checkout_token)
        if existing is None:
            raise
        return existing
    gifts = {
        line.key or line.book.pk: gift_details.create_gift(
            buyer, line.book.title, gift_details.normalised(line.gift), payment=payment
        )
        for line in lines
        if line.gift is not None
    }
    Order.objects.bulk_create(
        [
            Order(
                buyer=buyer,
                book=line.book,
                payment=payment,
                amount_cents=line.amount_cents,
                royalty_cents=royalty_for(line.amount_cents),
                currency=line.book.currency,
                gateway=payment.gateway,
                checkout_token=line_token(checkout_token, line.book.pk, line.key),
                **{"coupon": line.coupon, **(order_fields or {})},  # a bundle's coupon wins
                **({"bundle": line.bundle, "bundle_sale": line.bundle_sale} if line.bundle else {}),
                **({"gift": gifts[line.key or line.book.pk]} if line.gift is not None else {}),
            )
            for line in lines
        ]
    )
    forget_reader(buyer.pk)  # bulk_create sends no signal
    return payment


def payment_of_page(buyer, checkout_token) -> Payment | None:
    """The payment a checkout page placed already, locked (after the reader's lock)."""
    return _payment_of_page(buyer, checkout_token)


def _payment_of_page(buyer, checkout_token) -> Payment | None:
    return (
        Payment.objects.select_for_update()
        .filter(buyer=buyer, checkout_token=checkout_token)
        .first()
    )


def start_payment(payment: Payment):
    """The payment's session at its gateway: the one it has, or a new one.

    Outside any transaction (network). One idempotency key per payment; the
    conditional updates keep one reference for the payment and its orders."""
    gateway = get_gateway(payment.gateway)
    if payment.gateway_reference:
        return gateway.resume_payment(payment.gateway_reference)
    titles = list(payment.orders.order_by("pk").values_list("book__title", flat=True))
    session = gateway.start_payment(
        PaymentStart(
            order_id=payment.pk,
            public_id=str(payment.public_id),
            amount_cents=payment.amount_cents,
            currency=payment.currency,
            description=f"{len(titles)} books: {', '.join(titles)}"[:300]
            + f" ({settings.STORE_NAME})",
            idempotency_key=f"payment-{payment.public_id}-pay",
            customer_email=payment.buyer.email,
            metadata={"payment_id": str(payment.pk), "lines": str(len(titles))},
        )
    )
    with transaction.atomic():
        Payment.objects.filter(pk=payment.pk, gateway_reference="").update(
            gateway_reference=session.reference
        )
        payment.refresh_from_db(fields=["gateway_reference"])
        if payment.gateway_reference != session.reference:
            raise GatewayError("This cart is already linked to another payment.")
        payment.orders.filter(gateway_reference="").update(gateway_reference=session.reference)
    return session


def mark_payment_paid(*, payment_id: int, amount_cents: int, reference: str | None = None) -> bool:
    """The gateway captured ``amount_cents`` for the whole cart: fulfil every line,
    once. Each line is ``services.mark_paid`` (its own sale, book, receipt line; a
    line for a book the reader got meanwhile becomes a duplicate, refunded alone).
    False, and nothing changed, when the payment was settled already or the amount
    is not the cart's."""
    with transaction.atomic():
        credits.lock_reader(Payment.objects.select_related("buyer").get(pk=payment_id).buyer)
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if reference and payment.gateway_reference and payment.gateway_reference != reference:
            return False
        if payment.status == Payment.Status.PAID:
            return False  # a replay
        if amount_cents != payment.amount_cents:
            payment.failure_reason = (
                f"Captured {amount_cents}¢ but the cart is for {payment.amount_cents}¢."
            )
            payment.save(update_fields=["failure_reason"])
            return False
        payment.status = Payment.Status.PAID
        payment.paid_at = timezone.now()
        payment.failure_reason = ""
        payment.save(update_fields=["status", "paid_at", "failure_reason"])
        for order_id, line_amount in payment.orders.order_by("pk").values_list(
            "pk", "amount_cents"
        ):
            services.mark_paid(order_id=order_id, amount_cents=line_amount, reference=reference)
        gifts = gift_delivery.payment_paid(payment)
        licence = TeamLicence.objects.filter(payment=payment).first()
        if licence is not None:
            _queue_licence_receipt(licence)
        elif payment.orders.filter(gift__isnull=True).exists():
            # The lines that are not gifts (a gift's buyer gets its gift receipt).
            _queue_receipt(payment)
        for gift in gifts:  # due now: the claim e-mail goes with this commit
            gift_delivery.deliver(gift.pk)
    for gift in gifts:
        countdown = gift_delivery.countdown_for(gift)
        if countdown is not None:  # else the sweep (beat) delivers it on its day
            transaction.on_commit(
                lambda pk=gift.pk, wait=countdown: tasks.deliver_gift.apply_async(
                    args=[pk], countdown=wait
                ),
                robust=True,
            )
    return True


def _queue_licence_receipt(licence: TeamLicence) -> None:
    queue_templated_email(
        key=f"licence-receipt:licence-{licence.pk}",
        to=licence.manager.email,
        template="email/licence_receipt",
        context={
            "licence": licence,
            "seats": licence.seats.count(),
            "total_cents": licence.payment.amount_cents,
            "licence_url": settings.SITE_URL + licence.get_absolute_url(),
        },
    )


def _queue_receipt(payment: Payment) -> None:
    """One receipt for the cart, a line per order: its price, what its author earns,
    its own refund link and deadline. A guest's carries one one-time sign-in link to
    the library (a second would die with the first's use: the fingerprint holds the
    last login); the link's page invites a reader without a password to set one."""
    site = settings.SITE_URL
    orders = list(
        payment.orders.filter(gift__isnull=True)
        .select_related("book", "bundle", "coupon")
        .order_by("pk")
    )
    for order in orders:
        order.refund_until = refund_deadline(order)
    paid = [o for o in orders if o.status == Order.Status.PAID]
    context = {
        "payment": payment,
        "orders": orders,
        "paid": [o for o in paid if not o.bundle_sale],
        "bundle_lines": _bundle_lines([o for o in paid if o.bundle_sale], site),
        "duplicates": [o for o in orders if o.status == Order.Status.DUPLICATE],
        "library_url": f"{site}/library/",
        "site_url": site,
    }
    if payment.guest_checkout:
        context["sign_in_url"] = site + login_link_url(
            payment.buyer, next_url=reverse("library:index")
        )
        context["max_age_days"] = max(1, settings.LOGIN_LINK_MAX_AGE // 86400)
    queue_templated_email(
        key=f"receipt:payment-{payment.pk}",
        to=payment.buyer.email,
        template="email/cart_receipt",
        context=context,
    )


@dataclass(frozen=True)
class BundleLine:
    """A bundle's orders as one receipt line: refunded together (payments.bundle_purchases)."""

    title: str
    orders: list
    amount_cents: int
    royalty_cents: int
    refund_url: str
    refund_until: object


def _bundle_lines(orders, site: str) -> list[BundleLine]:
    sales: dict = {}
    for order in orders:
        sales.setdefault(order.bundle_sale, []).append(order)
    return [
        BundleLine(
            title=group[0].bundle.title,
            orders=group,
            amount_cents=sum(o.amount_cents for o in group),
            royalty_cents=sum(o.royalty_cents for o in group),
            refund_url=site + reverse("payments:bundle_refund", args=[sale]),
            refund_until=min(o.refund_until for o in group),
        )
        for sale, group in sales.items()
    ]


def mark_payment_failed(*, payment_id: int, reason: str, reference: str | None = None) -> bool:
    """The cart's payment was declined: the payment and its pending orders fail."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if reference and payment.gateway_reference != reference:
            return False
        if payment.status != Payment.Status.PENDING:
            return False
        payment.status = Payment.Status.FAILED
        payment.failure_reason = reason[:300]
        payment.save(update_fields=["status", "failure_reason"])
        for order_id in payment.orders.order_by("pk").values_list("pk", flat=True):
            services.mark_failed(order_id=order_id, reason=reason, reference=reference)
    return True


def pay_with_test_card(payment: Payment, *, card_number: str, reference: str) -> tuple[bool, str]:
    """The demo card fields of the cart checkout: the same path a webhook takes.

    A cart with coupons is charged holding the reader's lock, then its coupons'
    (payments.coupons.check_before_charge), in one transaction: a coupon that ran
    out or expired meanwhile refuses the whole cart before the card is charged."""
    orders = list(payment.orders.select_related("buyer").filter(coupon__isnull=False))
    if orders:
        with transaction.atomic():
            credits.lock_reader(payment.buyer)
            try:
                coupons.check_before_charge(orders)
            except coupons.CouponError as exc:
                mark_payment_failed(payment_id=payment.pk, reason=str(exc), reference=reference)
                return False, str(exc)
            succeeded, message = DemoGateway.charge(card_number)
            if succeeded:
                mark_payment_paid(
                    payment_id=payment.pk, amount_cents=payment.amount_cents, reference=reference
                )
        if not succeeded:
            mark_payment_failed(payment_id=payment.pk, reason=message, reference=reference)
        return succeeded, message
    succeeded, message = DemoGateway.charge(card_number)
    if succeeded:
        mark_payment_paid(
            payment_id=payment.pk, amount_cents=payment.amount_cents, reference=reference
        )
    else:
        mark_payment_failed(payment_id=payment.pk, reason=message, reference=reference)
    return succeeded, message
