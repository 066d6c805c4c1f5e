"""Orders and their state machine: every transition is a locked, idempotent function.

pending -> paid -> refunded; pending -> failed / expired. A payment the gateway
captured is never lost: a failed or expired order whose payment later succeeds
(the reader retried the same PaymentIntent) still becomes paid. Everything
else outside the table is refused as a no-op, so replayed and out-of-order
events change nothing.

One book, one charge: ownership is decided under the reader's row lock (the
same lock credits take), when the payment is confirmed, not when the checkout
page was opened. A payment captured for a book the reader already owns (a
second tab, a Stripe webhook after a credit purchase) becomes a ``duplicate``
order: its cash is held in the ledger and refunded in full through the
gateway, once, and the reader is told. PostgreSQL backs it with a unique index
(one paid book order with money per reader and book).
"""

import logging
import uuid
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Exists
from django.utils import timezone

from catalog import selectors as catalog_selectors
from catalog.models import Book
from core.compiled import CompiledQuery
from core.mail import queue_templated_email
from core.reader_pages import forget_reader
from library.services import grant_entitlement
from library.services import ownership as library_ownership

from . import coupons, credits, ledger, memberships, refunds, sales_counts, signals
from .gateways import GatewayError, PaymentStart, get_gateway
from .gateways.demo import DemoGateway
from .models import Order, Refund, RefundAction
from .pricing import amount_error, price_range
from .refunds import refund_deadline
from .royalties import royalty_for

log = logging.getLogger(__name__)

FREE_GATEWAY = "free"
# Orders that took no money and may be tried again with a new order.
RETRYABLE = (Order.Status.FAILED, Order.Status.EXPIRED)
OWNED_NOTHING_CHARGED = "You own this book already: nothing was charged."


class CheckoutError(Exception):
    """Why an order cannot be placed; the message is fit to show to the reader."""


class AlreadyOwned(CheckoutError):
    pass


def place_order(
    *, buyer, book: Book, amount_cents: int, checkout_token: uuid.UUID, coupon=None
) -> Order:
    """Create the order for one checkout page, or return the one it created already.

    The amount is checked again here (never trust the form alone), against the
    coupon's range when the reader applied one (payments.coupons). A $0 order
    is fulfilled at once, in the same transaction: free books skip payment, and
    a double click on "Get it free" finds the fulfilled order.
    """
    if not book.is_listed:
        raise CheckoutError("This book is not for sale.")
    bounds = None
    if coupon is not None:
        bounds = coupon_bounds(coupon, book, buyer)
    error = amount_error(book, amount_cents, bounds)
    if error:
        raise CheckoutError(error)
    try:
        with transaction.atomic():
            existing = _order_of_page(buyer, checkout_token)
            if existing is not None:
                return existing
            credits.lock_reader(buyer)
            owned, paid = ownership(buyer, book)
            if owned:
                raise AlreadyOwned("You own this book already: it is in your library.")
            if paid:
                _restore_paid_copy(buyer, book)
            else:
                order = _create_order_of_page(buyer, book, amount_cents, checkout_token, coupon)
    except IntegrityError:
        # Two requests posting the same page at the same instant both found no order
        # (no row to lock yet); the unique token let one insert win. Without a savepoint
        # around the insert, the loser's whole transaction rolled back: read the winner's
        # (in a transaction of its own: the lookup locks the row, as the first one did).
        with transaction.atomic():
            existing = _order_of_page(buyer, checkout_token)
        if existing is None:
            raise
        return existing
    if paid:  # raised after the commit: the book stays back in the library
        raise AlreadyOwned("You paid for this book already: it is back in your library.")
    return order


def coupon_bounds(coupon, book: Book, buyer):
    """The book's price range under ``coupon``; CheckoutError when the coupon is not
    this book's, not running, or used by this reader already."""
    if coupon.book_id != book.pk:
        raise CheckoutError(f"The coupon {coupon.code} is not for this book.")
    problem = coupons.availability_problem(coupon) or coupons.reader_problem(coupon, buyer)
    if problem:
        raise CheckoutError(problem)
    return coupons.coupon_range(price_range(book), coupon)


def retry_order(*, order: Order, checkout_token: uuid.UUID) -> Order:
    """Retry a declined or unfinished book order ("Try again"): a fresh order for the same
    book and amount (one per token, like a checkout page), through ``place_order``'s
    rules: the amount is checked again, and a reader who owns the book by now gets
    ``AlreadyOwned``."""
    if order.product != Order.Product.BOOK or order.status not in RETRYABLE:
        raise CheckoutError("Only a declined or unfinished order can be tried again.")
    return place_order(
        buyer=order.buyer,
        book=order.book,
        amount_cents=order.amount_cents,
        checkout_token=checkout_token,
        coupon=order.coupon,
    )


def _create_order_of_page(buyer, book, amount_cents, checkout_token, coupon=None) -> Order:
    """A new book order; a $0 one is fulfilled in the same transaction (a free
    coupon's last use checked under its lock first, like a card payment's)."""
    gateway = FREE_GATEWAY if amount_cents == 0 else settings.PAYMENT_GATEWAY
    # No savepoint of its own: a second insert of the same page fails the caller's
    # transaction, which place_order answers with the winner's order.
    order = Order.objects.create(
        buyer=buyer,
        book=book,
        amount_cents=amount_cents,
        royalty_cents=royalty_for(amount_cents),
        currency=book.currency,
        gateway=gateway,
        checkout_token=checkout_token,
        coupon=coupon,
    )
    if order.amount_cents == 0 and order.status == Order.Status.PENDING:
        try:
            coupons.check_before_charge([order])
        except coupons.CouponError as exc:
            raise CheckoutError(str(exc).replace(" Nothing was charged.", "")) from exc
        mark_paid(order_id=order.pk, amount_cents=0)
        order.refresh_from_db()
    return order


def _page_order_query(buyer_id, checkout_token):
    orders = Order.objects.select_for_update().filter(buyer_id=buyer_id)
    return orders.filter(checkout_token=checkout_token).order_by("pk")[:1]


_PAGE_ORDER = CompiledQuery(_page_order_query, arity=2, uuids=(1,))  # every order placed


def _order_of_page(buyer, checkout_token) -> Order | None:
    found = _PAGE_ORDER.objects(buyer.pk, checkout_token)
    return found[0] if found else None


def _create_once(**fields) -> Order:
    """The order of a checkout page, created once: two requests posting the same
    page at the same instant both pass the lookup (there is no row to lock yet);
    the unique token lets one insert win and the other read the winner's row."""
    try:
        with transaction.atomic():
            return Order.objects.create(**fields)
    except IntegrityError:
        existing = _order_of_page(fields["buyer"], fields["checkout_token"])
        if existing is None:
            raise
        return existing


def _restore_paid_copy(buyer, book) -> None:
    """The reader removed from the library a book they paid for and came to buy it
    again: give it back from the order that paid for it instead of charging twice."""
    paid = _paid_book_order(buyer, book)
    grant_entitlement(
        user=buyer,
        book=book,
        at=timezone.now(),
        order_ref=paid.public_id,
        refundable_until=refund_deadline(paid),
    )


def _paid_book_order(buyer, book, *, exclude=None) -> Order | None:
    orders = Order.objects.charged_for(buyer, book)
    if exclude is not None:
        orders = orders.exclude(pk=exclude.pk)
    return orders.first()


def _ownership_query(buyer_id, book_id, exclude_id=None):
    paid = Order.objects.charged_for(buyer_id, book_id)
    if exclude_id is not None:
        paid = paid.exclude(pk=exclude_id)
    owned = Exists(library_ownership(buyer_id, book_id))
    return get_user_model().objects.filter(pk=buyer_id).values_list(owned, Exists(paid))[:1]


# Asked on three of a purchase's four requests: compiled once (core.compiled).
_OWNERSHIP = CompiledQuery(_ownership_query, arity=2)
_OWNERSHIP_EXCEPT = CompiledQuery(_ownership_query, arity=3)


def ownership(buyer, book, *, exclude=None) -> tuple[bool, bool]:
    """(the reader owns the book, the reader has a paid order with money for it
    other than ``exclude``), asked in one query. Decisive only under the reader's
    lock, taken by a statement of its own before this one (``credits.lock_reader``):
    a statement that waits for a row lock still answers its subqueries from the
    snapshot it took before waiting, so it would miss the grant of the tab that
    held the lock."""
    if exclude is None:
        rows = _OWNERSHIP.rows(buyer.pk, book.pk)
    else:
        rows = _OWNERSHIP_EXCEPT.rows(buyer.pk, book.pk, exclude.pk)
    return (bool(rows[0][0]), bool(rows[0][1])) if rows else (False, False)


def owned_elsewhere(order: Order) -> bool:
    """Whether the order's reader owns its book through something else: another
    order, a gift, a grant. Decisive only under the reader's lock (``credits.lock_reader``)."""
    return any(ownership(order.buyer, order.book, exclude=order))


def refuse_if_owned(order: Order) -> bool:
    """Before the payment page takes a card: a pending book order for a book the
    reader owns by now (another tab paid first) is closed instead. True if closed."""
    if order.product != Order.Product.BOOK or order.status != Order.Status.PENDING:
        return False
    # Without locks first: the usual answer, "not owned", needs none (mark_paid decides
    # again under the reader's lock when the money comes in). Only a "yes" is made
    # decisive under the locks before the order is closed.
    if not owned_elsewhere(order):
        return False
    with transaction.atomic():
        locked = Order.objects.select_for_update(of=("self",)).select_related("book", "buyer")
        locked = locked.get(pk=order.pk)
        credits.lock_reader(locked.buyer)
        if locked.status != Order.Status.PENDING or not owned_elsewhere(locked):
            return False
        locked.status = Order.Status.EXPIRED
        locked.failure_reason = OWNED_NOTHING_CHARGED
        locked.save(update_fields=["status", "failure_reason"])
    return True


def place_pack_order(*, buyer, credits: int, checkout_token: uuid.UUID) -> Order:
    """The order for a credit pack on sale (settings.CREDIT_PACKS), once per checkout page."""
    price = settings.CREDIT_PACKS.get(credits)
    if price is None:
        raise CheckoutError("There is no such credit pack.")
    return place_credits_order(
        buyer=buyer,
        product=Order.Product.CREDITS,
        credits=credits,
        amount_cents=price,
        checkout_token=checkout_token,
    )


def place_credits_order(
    *, buyer, product, credits, amount_cents, checkout_token, membership=None, gateway=None
) -> Order:
    """The order of a pack or a membership period, once per checkout token."""
    with transaction.atomic():
        existing = _order_of_page(buyer, checkout_token)
        if existing is not None:
            return existing
        return _create_once(
            buyer=buyer,
            product=product,
            credits=credits,
            membership=membership,
            amount_cents=amount_cents,
            royalty_cents=0,  # royalties come when a credit buys a book
            gateway=gateway or settings.PAYMENT_GATEWAY,
            checkout_token=checkout_token,
        )


def start_payment(order: Order):
    """The order's payment session: the one it has, or a new one from its gateway.

    Outside any transaction: this talks to the network. The idempotency key is
    derived from the order, so a retry after a timeout cannot create a second
    payment at Stripe; the conditional update keeps one reference per order.
    """
    gateway = get_gateway(order.gateway)
    if order.gateway_reference:
        return gateway.resume_payment(order.gateway_reference)
    session = gateway.start_payment(
        PaymentStart(
            order_id=order.pk,
            public_id=str(order.public_id),
            amount_cents=order.amount_cents,
            currency=order.currency,
            description=f"{order.title} ({settings.STORE_NAME})",
            idempotency_key=f"order-{order.public_id}-pay",
            customer_email=order.buyer.email,
            metadata={"book": order.book.slug} if order.book_id else {"product": order.product},
        )
    )
    linked = Order.objects.filter(pk=order.pk, gateway_reference="").update(
        gateway_reference=session.reference
    )
    if linked:  # the update saw no reference and set ours: nothing to read back
        order.gateway_reference = session.reference
        return session
    order.refresh_from_db(fields=["gateway_reference"])
    if order.gateway_reference != session.reference:
        raise GatewayError("This order is already linked to another payment.")
    return session


def mark_paid(*, order_id: int, amount_cents: int, reference: str | None = None) -> bool:
    """The gateway captured ``amount_cents`` for the order: fulfil it, once.

    Locks the order; writes the sale to the ledger, grants the book, counts the
    sale and queues the receipt, all in one transaction. Returns False (and
    changes nothing) when the order is paid already or refunded.
    """
    with transaction.atomic():
        return _fulfil(_locked(order_id), amount_cents, reference)


def _lock_query(order_id, *, joined):
    # Lock the order only: joined rows (the book, the buyer) are shared by other orders.
    orders = Order.objects.select_for_update(of=("self",)).filter(pk=order_id)
    return orders.select_related(*joined) if joined else orders  # (() would join all)


# Once per sale (the card's, or a webhook's mark_paid): compiled once (core.compiled).
_LOCKS = {
    joined: CompiledQuery(partial(_lock_query, joined=joined), arity=1)
    for joined in ((), ("book", "buyer", "membership"))
}


def _locked(order_id: int, *, joined=("book", "buyer", "membership")) -> Order:
    found = _LOCKS[joined].objects(order_id)
    if not found:
        raise Order.DoesNotExist(f"No order {order_id}.")
    return found[0]


def _payable_query(public_id, buyer_id):
    return Order.objects.select_related("book").filter(public_id=public_id, buyer_id=buyer_id)


_PAYABLE = CompiledQuery(_payable_query, arity=2, uuids=(0,))  # the payment page and its card


def payable_order(public_id, buyer) -> Order | None:
    """The reader's own order ``public_id`` with its book, for its payment page; None
    if there is no such order of theirs. ValueError for a malformed id."""
    found = _PAYABLE.objects(public_id, buyer.pk)
    if not found:
        return None
    found[0].buyer = buyer
    return found[0]


def _fulfil(order: Order, amount_cents: int, reference: str | None, *, unowned=False) -> bool:
    """``mark_paid`` on the locked order. ``unowned``: the caller took the reader's
    lock in this transaction and found the book not owned elsewhere."""
    if reference and order.gateway_reference and order.gateway_reference != reference:
        log.error(
            "order %s: payment %s is not the order's %s",
            order.pk,
            reference,
            order.gateway_reference,
        )
        return False
    if order.status not in (Order.Status.PENDING, Order.Status.FAILED, Order.Status.EXPIRED):
        return False  # paid already (a replay) or refunded (out of order)
    if amount_cents != order.amount_cents:
        # Never fulfil at a price the reader did not choose; a person must look.
        log.error("order %s: captured %s, expected %s", order.pk, amount_cents, order.amount_cents)
        order.failure_reason = (
            f"Captured {amount_cents}¢ but the order is for {order.amount_cents}¢."
        )
        order.save(update_fields=["failure_reason"])
        return False
    if order.product != Order.Product.BOOK:
        _settle(order, Order.Status.PAID)
        credits.add_lot(order)
        if order.membership_id:
            memberships.period_paid(order)
        _queue_receipt(order)
        return True
    if order.for_someone_else:
        # A gift or a seat: the buyer's sale now; the book goes to whoever claims it
        # (payments/gifts.py, team_licences.py), so ownership is not the buyer's to ask.
        _settle(order, Order.Status.PAID)
        ledger.record_sale(order)
        sales_counts.count_soon(order.book_id)
        return True
    if not unowned:
        credits.lock_reader(order.buyer)  # ownership is decided under the reader's lock
        if owned_elsewhere(order):
            _book_duplicate(order)
            return True
    _settle(order, Order.Status.PAID)
    coupons.redeem(order)
    grant_entitlement(
        user=order.buyer,
        book=order.book,
        at=order.paid_at,
        order_ref=order.public_id,
        refundable_until=refund_deadline(order) if order.amount_cents else None,
    )
    sales_counts.count_soon(order.book_id)  # off the sale path: no hot row per book
    if order.payment_id is None:  # a cart's lines share one receipt (cart_payments)
        _queue_receipt(order)
    # The ledger last (its receivers read it): its daily-sum shard is the one row
    # concurrent sales of the book share, locked from here until the commit, so
    # not while the receipt renders.
    ledger.record_sale(order)
    signals.sale_completed.send(sender=Order, order=order)
    return True


def _settle(order: Order, status) -> None:
    order.status = status
    order.paid_at = timezone.now()
    order.failure_reason = ""
    order.save(update_fields=["status", "paid_at", "failure_reason"])


def _book_duplicate(order: Order) -> None:
    """The gateway captured money for a book the reader already owns. Never a second
    sale: the cash is held in the ledger, a refund of all of it is approved and
    sent to the gateway after commit (once: one Refund row per order, one
    idempotency key), and the reader is told. A $0 order moved no money: closed."""
    if order.amount_cents == 0:
        order.status = Order.Status.FAILED
        order.failed_at = timezone.now()
        order.failure_reason = "You own this book already."
        order.save(update_fields=["status", "failed_at", "failure_reason"])
        return
    _settle(order, Order.Status.DUPLICATE)
    ledger.record_double_payment(order)
    refund = Refund.objects.create(
        order=order,
        amount_cents=order.amount_cents,
        status=Refund.Status.APPROVED,
        auto_approved=True,
        reason="Paid for a book the reader already owned.",
        decided_at=order.paid_at,
    )
    RefundAction.objects.create(
        refund=refund, action="approved: a second payment for a book the reader owned"
    )
    log.warning("order %s: captured for a book its reader owns; refunding it", order.pk)
    queue_templated_email(
        key=f"double-payment:order-{order.pk}",
        to=order.buyer.email,
        template="email/double_payment",
        context={
            "order": order,
            "book": order.book,
            "library_url": f"{settings.SITE_URL}/library/",
        },
    )
    transaction.on_commit(lambda: _refund_soon(refund.pk))


def _refund_soon(refund_id: int) -> None:
    """After commit, in this process, as a reader's own refund is: the money goes
    back at once. If this process dies first, ``retry_failed_refunds`` (beat)
    finds the approved refund nobody sent."""
    try:
        refunds.execute_refund(refund_id=refund_id)
    except Exception:  # the payment stays booked and the refund approved: beat retries
        log.exception("refund %s of a double payment: not sent now; beat retries", refund_id)


def pay_with_test_card(order: Order, *, card_number: str, reference: str) -> tuple[bool, str]:
    """The demo gateway's payment page: a test card succeeds or is declined, and the
    result takes the same service path a gateway's webhook does. (succeeded, message);
    ``order`` is given the status it has afterwards.

    One transaction holds the order's lock, then the reader's, from the ownership
    check to the sale: a book the reader owns by now (another tab paid first) is
    closed before the card is charged ("nothing was charged"), as the payment page
    does, and no second tab can slip in between. An order with a coupon also holds
    the coupon's lock (payments.coupons.check_before_charge): a coupon that ran out,
    expired or was used by this reader meanwhile refuses the order before the card
    is charged, and its last use goes to one buyer only."""
    with transaction.atomic():
        locked = _locked(order.pk, joined=())
        locked.book, locked.buyer = order.book, order.buyer  # read by the view just now
        unowned = False
        if locked.status == Order.Status.PENDING and locked.product == Order.Product.BOOK:
            credits.lock_reader(locked.buyer)
            if not locked.for_someone_else:
                if owned_elsewhere(locked):
                    _fail(locked, Order.Status.EXPIRED, OWNED_NOTHING_CHARGED)
                    order.status = locked.status
                    return False, OWNED_NOTHING_CHARGED
                unowned = True
            if locked.coupon_id:
                try:
                    coupons.check_before_charge([locked])
                except coupons.CouponError as exc:
                    _fail(locked, Order.Status.FAILED, str(exc))
                    order.status = locked.status
                    return False, str(exc)
        succeeded, message = DemoGateway.charge(card_number)
        if succeeded:
            _fulfil(locked, locked.amount_cents, reference, unowned=unowned)
        elif locked.status == Order.Status.PENDING and locked.gateway_reference == reference:
            _fail(locked, Order.Status.FAILED, message)
        order.status = locked.status
    return succeeded, message


def mark_failed(*, order_id: int, reason: str, reference: str | None = None) -> bool:
    """The payment was declined: pending -> failed, keeping the reason to show."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if reference and order.gateway_reference != reference:
            return False
        if order.status != Order.Status.PENDING:
            return False
        _fail(order, Order.Status.FAILED, reason)
    return True


def _fail(order: Order, status, reason: str) -> None:
    order.status = status
    order.failed_at = timezone.now()
    order.failure_reason = reason[:300]
    order.save(update_fields=["status", "failed_at", "failure_reason"])


def expire_stale_orders(*, older_than=timedelta(days=1)) -> int:
    """Pending orders nobody paid for become expired (a payment arriving later still counts)."""
    stale = Order.objects.filter(
        status=Order.Status.PENDING, created_at__lt=timezone.now() - older_than
    )
    buyers = set(stale.values_list("buyer_id", flat=True))
    expired = stale.update(status=Order.Status.EXPIRED)
    for buyer_id in buyers:  # update() sends no signal: their orders page changed
        forget_reader(buyer_id)
    return expired


def _queue_receipt(order: Order) -> None:
    site = settings.SITE_URL
    queue_templated_email(
        key=f"receipt:order-{order.pk}",
        to=order.buyer.email,
        template="email/receipt",
        context={
            "order": order,
            "book": order.book,
            "pre_order": order.book_id is not None and not catalog_selectors.has_files(order.book),
            "refund_deadline": refund_deadline(order),
            "library_url": f"{site}/library/",
            "account_url": f"{site}/account/",
            "receipt_url": f"{site}{order.get_absolute_url()}",
        },
    )
