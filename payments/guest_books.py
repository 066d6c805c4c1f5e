"""The books a guest just paid for, on the paid page of the browser that paid.

A visitor who paid the cart with only an e-mail address is not signed in (whoever
typed the address may not own it), yet issue 21 wants the book one page after
paying. So the paid page lists each line of the payment with its files, and
``file_for`` is the one check its downloads pass: the payment is paid, the line is
paid (not refunded, not a duplicate), and the buyer's active entitlement is the one
this line granted (``Entitlement.order_ref``). Nothing else of the account shows:
only what this browser paid for, for as long as it stays paid.
"""

from dataclasses import dataclass

from catalog.models import ReleaseFile
from library.models import Entitlement

from .models import Order, Payment


@dataclass(frozen=True)
class GuestBook:
    order: Order
    files: list  # the current release's ReleaseFiles, PDF/EPUB order; empty when not paid


def books(payment: Payment) -> list[GuestBook]:
    """Each line of a paid payment, with the current release's files of the lines
    still paid and granted by this payment. A fixed number of queries."""
    if payment.status != Payment.Status.PAID:
        return []
    orders = list(  # a gift line is not the guest's book (payments.cart_gifts)
        payment.orders.filter(gift=None)
        .select_related("book", "book__current_release")
        .order_by("pk")
    )
    granted = set(
        Entitlement.objects.active()
        .filter(
            user_id=payment.buyer_id,
            order_ref__in=[o.public_id for o in orders if o.status == Order.Status.PAID],
        )
        .values_list("book_id", flat=True)
    )
    release_ids = [
        o.book.current_release_id
        for o in orders
        if o.book_id in granted and o.book.current_release_id
    ]
    files: dict[int, list] = {}
    for release_file in (
        ReleaseFile.objects.filter(release_id__in=release_ids)
        .only("id", "format", "release_id")
        .order_by("format")
    ):
        files.setdefault(release_file.release_id, []).append(release_file)
    return [
        GuestBook(
            order=o,
            files=files.get(o.book.current_release_id, []) if o.book_id in granted else [],
        )
        for o in orders
    ]


def file_for(payment: Payment, book_id: int, fmt: str):
    """(release file, entitlement) of the current release of a book this payment
    paid for and still grants, or None: payment not paid, line refunded or a
    duplicate, entitlement revoked or from another order, no such file."""
    if payment.status != Payment.Status.PAID:
        return None
    order = (
        payment.orders.filter(book_id=book_id, status=Order.Status.PAID)
        .select_related("book")
        .first()
    )
    if order is None or order.book.current_release_id is None:
        return None
    entitlement = (
        Entitlement.objects.active()
        .filter(user_id=payment.buyer_id, book_id=book_id, order_ref=order.public_id)
        .first()
    )
    if entitlement is None:
        return None
    release_file = (
        ReleaseFile.objects.select_related("release__book")
        .filter(release_id=order.book.current_release_id, format=fmt)
        .first()
    )
    return None if release_file is None else (release_file, entitlement)
