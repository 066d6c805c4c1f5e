"""What a reader may pay for a book: the bounds of the price slider and the server's check."""

from dataclasses import dataclass

from django.conf import settings

from core.money import MIN_PAID_PRICE_CENTS, format_cents, is_valid_price


@dataclass(frozen=True)
class PriceRange:
    minimum: int
    suggested: int
    maximum: int

    @property
    def is_free(self) -> bool:
        return self.maximum == 0


def price_range(book) -> PriceRange:
    """The slider runs from the minimum to a sensible top: three times the
    suggested price (at least $50), in whole dollars, capped by MAX_PRICE_CENTS.
    That top is also the most a reader may pay. A free book ranges over $0 only."""
    if book.minimum_price_cents == 0 and book.suggested_price_cents == 0:
        return PriceRange(minimum=0, suggested=0, maximum=0)  # a free book
    cap = settings.MAX_PRICE_CENTS
    top = max(book.suggested_price_cents * 3, book.minimum_price_cents * 3, 50_00)
    top = min(-(-top // 100) * 100, cap)
    return PriceRange(
        minimum=book.minimum_price_cents,
        suggested=max(book.suggested_price_cents, book.minimum_price_cents),
        maximum=max(top, book.minimum_price_cents),
    )


def amount_error(book, cents: int, bounds: PriceRange | None = None) -> str | None:
    """Why ``cents`` cannot be paid for ``book``, or None when it can. ``bounds``:
    another range than the book's own (a coupon's, payments.coupons.coupon_range)."""
    bounds = bounds or price_range(book)
    if cents < bounds.minimum:
        return f"The minimum price for this book is {format_cents(bounds.minimum)}."
    if not is_valid_price(cents):
        return f"Pay $0 or at least {format_cents(MIN_PAID_PRICE_CENTS)}."
    if bounds.is_free and cents:
        return "This book is free: there is nothing to pay."
    if cents > bounds.maximum:
        return f"You can pay at most {format_cents(bounds.maximum)} for this book."
    return None
