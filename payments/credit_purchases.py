"""Buying a book with a credit: the oldest lot's next credit pays for it.

Above both ``credits`` (the credit ledger) and ``services`` (orders and their
fulfilment), so it imports each at the top: no import cycle.
"""

import uuid

from django.db import transaction

from catalog.models import Book
from library.services import owns

from .credits import CREDIT_GATEWAY, CreditError, lock_reader, lot_balances
from .models import CreditEntry, Order
from .royalties import royalty_for_credit
from .services import mark_paid


def buy_with_credit(*, buyer, book: Book, checkout_token: uuid.UUID) -> Order:
    """Spend one credit on ``book``: the oldest lot's next credit pays for it.

    Idempotent per checkout page (the token), refused with a clear message when
    the reader has no credit, owns the book, or the book is free or not for sale.
    """
    if not book.is_listed:
        raise CreditError("This book is not for sale.")
    if book.minimum_price_cents == 0:
        raise CreditError("This book is free: add it to your library without a credit.")
    with transaction.atomic():
        lock_reader(buyer)
        existing = Order.objects.filter(buyer=buyer, checkout_token=checkout_token).first()
        if existing is not None:
            return existing
        if owns(buyer, book):
            raise CreditError("You own this book already: it is in your library.")
        lots = lot_balances(buyer)
        if not lots:
            raise CreditError("You have no credits left. Buy a pack or join the membership.")
        source = lots[0]
        value = source.next_value()
        order = Order.objects.create(
            buyer=buyer,
            book=book,
            product=Order.Product.BOOK,
            credits=1,
            amount_cents=value,
            royalty_cents=royalty_for_credit(value),
            currency=book.currency,
            gateway=CREDIT_GATEWAY,
            gateway_reference=f"credit-{uuid.uuid4()}",
            checkout_token=checkout_token,
        )
        CreditEntry.objects.create(
            owner=buyer,
            lot=source.lot,
            kind=CreditEntry.Kind.SPENT,
            credits=-1,
            value_cents=-value,
            order=order,
        )
        mark_paid(order_id=order.pk, amount_cents=value, reference=order.gateway_reference)
        order.refresh_from_db()
    return order
