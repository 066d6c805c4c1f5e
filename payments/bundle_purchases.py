"""Buying a bundle: one cart payment whose orders are the bundle's books.

A bundle purchase is a ``Payment`` (payments/cart_payments.py) with one order
per book the reader does not own yet, each at its part of the price
(payments/bundle_pricing.py), carrying the bundle and one ``bundle_sale`` id.
From there every order is an ordinary book order: its own sale in the ledger
(royalty and co-author shares of its part), its book, its receipt line. The
bundle is one line for the reader: its orders are shown together and refunded
together, each exactly reversed.
"""

import uuid
from dataclasses import dataclass

from django.db import transaction

from catalog import bundles
from catalog.models import Book, Bundle
from core.money import format_cents
from library.models import Entitlement

from . import cart_payments, coupons, credits, refunds, services
from .bundle_pricing import BookPart, book_parts, bundle_range, range_for_rest
from .models import Order, Payment
from .pricing import PriceRange

CheckoutError = services.CheckoutError


@dataclass(frozen=True)
class Offer:
    """What one reader would buy: the bundle's books they do not own, at which range."""

    bundle: Bundle
    books: list[Book]  # to pay for, in bundle order
    owned: list[Book]
    weights: list[int]
    bounds: PriceRange
    coupon: object = None  # payments.models.Coupon of a coupon link: its range

    @property
    def completes(self) -> bool:
        """The reader owns some of the books: this is "complete the bundle"."""
        return bool(self.owned) and bool(self.books)

    def parts(self, price_cents: int) -> list[BookPart]:
        return book_parts(self.books, self.weights, price_cents)

    def amount_error(self, cents: int) -> str | None:
        if cents < self.bounds.minimum:
            return f"The minimum price for {self._what} is {format_cents(self.bounds.minimum)}."
        if cents > self.bounds.maximum:
            return f"You can pay at most {format_cents(self.bounds.maximum)} for {self._what}."
        return None

    @property
    def _what(self) -> str:
        return "the rest of this bundle" if self.owned else "this bundle"


def offer_for(bundle: Bundle, reader, coupon=None) -> Offer:
    """The reader's offer (``bundle`` prefetched with catalog.bundles.with_books),
    under the bundle's ``coupon`` if any: its range, floored so that every book's
    part stays at or above the lowest paid price (payments.coupons)."""
    books = bundles.books_of(bundle)
    owned_ids = _owned_ids(reader, [book.pk for book in books])
    weights = [bundles.weight(book) for book in books]
    rest = [i for i, book in enumerate(books) if book.pk not in owned_ids]
    full = bundle_range(bundle)
    bounds = full if len(rest) == len(books) else range_for_rest(full, weights, rest)
    if coupon is not None and rest:
        floor = bundles.lowest_minimum([weights[i] for i in rest])
        bounds = coupons.coupon_range(bounds, coupon, floor=floor, free=False)
    return Offer(
        bundle=bundle,
        books=[books[i] for i in rest],
        owned=[book for book in books if book.pk in owned_ids],
        weights=[weights[i] for i in rest],
        bounds=bounds,
        coupon=coupon,
    )


def _owned_ids(reader, book_ids) -> set[int]:
    if not reader.is_authenticated:
        return set()
    return set(
        Entitlement.objects.active()
        .filter(user=reader, book_id__in=book_ids)
        .values_list("book_id", flat=True)
    )


def sale_id(checkout_token: uuid.UUID) -> uuid.UUID:
    """The bundle sale of one checkout page: derived, so a double click finds it."""
    return uuid.uuid5(checkout_token, "bundle-sale")


def place_bundle_payment(
    *, buyer, bundle_id: int, amount_cents: int, checkout_token: uuid.UUID, coupon=None
) -> Payment:
    """The payment for the bundle's books the buyer does not own, at ``amount_cents``
    split across them; or the payment this page placed already (a double click).

    Everything is checked again under the reader's lock: the bundle is still listed
    (its books for sale, its authors' consent), the amount fits what the reader
    owns now, and no book is already paid for. Refused: nothing is created."""
    with transaction.atomic():
        credits.lock_reader(buyer)  # the cart's lock order: the reader, then the payment
        existing = cart_payments.payment_of_page(buyer, checkout_token)
        if existing is not None:
            return existing
        bundle = bundles.with_books(Bundle.objects.filter(pk=bundle_id)).get()
        problems = bundles.listing_problems(bundle)
        if problems:
            raise CheckoutError(f"This bundle cannot be bought now: {' '.join(problems)}")
        if coupon is not None:
            if coupon.bundle_id != bundle.pk:
                raise CheckoutError(f"The coupon {coupon.code} is not for this bundle.")
            problem = coupons.availability_problem(coupon) or coupons.reader_problem(coupon, buyer)
            if problem:
                raise CheckoutError(problem)
        offer = offer_for(bundle, buyer, coupon)
        if not offer.books:
            raise services.AlreadyOwned("You own every book of this bundle already.")
        error = offer.amount_error(amount_cents)
        if error:
            raise CheckoutError(error)
        for book in offer.books:
            if Order.objects.charged_for(buyer, book).exists():
                raise services.AlreadyOwned(
                    f"You paid for “{book.title}” already: see your orders."
                )
        lines = [
            cart_payments.LineChoice(part.book, part.price_cents)
            for part in offer.parts(amount_cents)
        ]
        return cart_payments.create_payment(
            buyer=buyer,
            lines=lines,
            checkout_token=checkout_token,
            order_fields={
                "bundle": bundle,
                "bundle_sale": sale_id(checkout_token),
                "coupon": coupon,
            },
        )


def orders_of_sale(buyer, sale: uuid.UUID):
    return Order.objects.filter(buyer=buyer, bundle_sale=sale).select_related("book", "bundle")


def refund_sale(*, buyer, sale: uuid.UUID, reason: str = "") -> list[refunds.RefundResult]:
    """Refund a bundle purchase: every paid order of the sale, each exactly reversed
    (its own refund, a partial refund of the payment). Orders refunded already are
    skipped, so a second click or a retry refunds nothing twice. RefundError when
    none of them can be refunded (the window closed, not the reader's)."""
    orders = list(orders_of_sale(buyer, sale).order_by("pk"))
    if not orders:
        raise refunds.RefundError("No such bundle purchase.")
    payable = [order for order in orders if refunds.refund_refusal(order, buyer) is None]
    if not payable:
        raise refunds.RefundError(refunds.refund_refusal(orders[0], buyer))
    return [
        refunds.refund_order(order_id=order.pk, actor=buyer, reason=reason) for order in payable
    ]
