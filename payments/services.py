"""Orders and their state machine: every transition is a locked, idempotent function.

pending -> paid -> refunded; pending -> failed / expired. A payment the gateway
captured is never lost: a failed or expired order whose payment later succeeds
(the reader retried the same PaymentIntent) still becomes paid. Everything
else outside the table is refused as a no-op, so replayed and out-of-order
events change nothing.
"""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from catalog.models import Book
from library.services import grant_entitlement, owns
from storefront.mail import queue_templated_email

from . import credits, ledger, memberships
from .gateways import GatewayError, PaymentStart, get_gateway
from .models import Order
from .pricing import amount_error
from .royalties import royalty_for

log = logging.getLogger(__name__)

FREE_GATEWAY = "free"


class CheckoutError(Exception):
    """Why an order cannot be placed; the message is fit to show to the reader."""


class AlreadyOwned(CheckoutError):
    pass


def refund_deadline(order: Order):
    return order.paid_at + timedelta(days=settings.REFUND_WINDOW_DAYS) if order.paid_at else None


def place_order(*, buyer, book: Book, amount_cents: int, checkout_token: uuid.UUID) -> Order:
    """Create the order for one checkout page, or return the one it created already.

    The amount is checked again here (never trust the form alone). A $0 order
    is fulfilled at once: free books skip payment.
    """
    if not book.is_listed:
        raise CheckoutError("This book is not for sale.")
    error = amount_error(book, amount_cents)
    if error:
        raise CheckoutError(error)
    with transaction.atomic():
        existing = (
            Order.objects.select_for_update()
            .filter(buyer=buyer, checkout_token=checkout_token)
            .first()
        )
        if existing is not None:
            return existing
        if owns(buyer, book):
            raise AlreadyOwned("You own this book already: it is in your library.")
        gateway = FREE_GATEWAY if amount_cents == 0 else settings.PAYMENT_GATEWAY
        order = Order.objects.create(
            buyer=buyer,
            book=book,
            amount_cents=amount_cents,
            royalty_cents=royalty_for(amount_cents),
            currency=book.currency,
            gateway=gateway,
            checkout_token=checkout_token,
        )
    if amount_cents == 0:
        mark_paid(order_id=order.pk, amount_cents=0)
        order.refresh_from_db()
    return order


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
    with transaction.atomic():
        existing = (
            Order.objects.select_for_update()
            .filter(buyer=buyer, checkout_token=checkout_token)
            .first()
        )
        if existing is not None:
            return existing
        return Order.objects.create(
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
    Order.objects.filter(pk=order.pk, gateway_reference="").update(
        gateway_reference=session.reference
    )
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
        # Lock the order only: joined rows (the book, the buyer) are shared by other orders.
        order = (
            Order.objects.select_for_update(of=("self",))
            .select_related("book", "buyer", "membership")
            .get(pk=order_id)
        )
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
            log.error(
                "order %s: captured %s, expected %s", order.pk, amount_cents, order.amount_cents
            )
            order.failure_reason = (
                f"Captured {amount_cents}¢ but the order is for {order.amount_cents}¢."
            )
            order.save(update_fields=["failure_reason"])
            return False
        order.status = Order.Status.PAID
        order.paid_at = timezone.now()
        order.failure_reason = ""
        order.save(update_fields=["status", "paid_at", "failure_reason"])
        if order.product != Order.Product.BOOK:
            credits.add_lot(order)
            if order.membership_id:
                memberships.period_paid(order)
            _queue_receipt(order)
            return True
        ledger.record_sale(order)
        grant_entitlement(
            user=order.buyer,
            book=order.book,
            at=order.paid_at,
            order_ref=order.public_id,
            refundable_until=refund_deadline(order) if order.amount_cents else None,
        )
        Book.objects.filter(pk=order.book_id).update(sales_count=F("sales_count") + 1)
        _queue_receipt(order)
    return True


def mark_failed(*, order_id: int, reason: str, reference: str | None = None) -> bool:
    """The payment was declined: pending -> failed, keeping the reason to show."""
    with transaction.atomic():
        order = Order.objects.select_for_update().get(pk=order_id)
        if reference and order.gateway_reference != reference:
            return False
        if order.status != Order.Status.PENDING:
            return False
        order.status = Order.Status.FAILED
        order.failed_at = timezone.now()
        order.failure_reason = reason[:300]
        order.save(update_fields=["status", "failed_at", "failure_reason"])
    return True


def expire_stale_orders(*, older_than=timedelta(days=1)) -> int:
    """Pending orders nobody paid for become expired (a payment arriving later still counts)."""
    return Order.objects.filter(
        status=Order.Status.PENDING, created_at__lt=timezone.now() - older_than
    ).update(status=Order.Status.EXPIRED)


def _queue_receipt(order: Order) -> None:
    site = settings.SITE_URL
    queue_templated_email(
        key=f"receipt:order-{order.pk}",
        to=order.buyer.email,
        template="email/receipt",
        context={
            "order": order,
            "book": order.book,
            "refund_deadline": refund_deadline(order),
            "library_url": f"{site}/library/",
            "account_url": f"{site}/account/",
            "receipt_url": f"{site}{order.get_absolute_url()}",
        },
    )
