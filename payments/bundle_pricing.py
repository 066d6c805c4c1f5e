"""How a bundle's price is split across its books, and what each author earns.

Pure functions of prices and shares (no database): the bundle page, the
purchase and the tests call them.

- The price is split across the books in proportion to their weights (their
  suggested prices, catalog.bundles.weight), largest remainder, to the cent:
  the parts always sum to the price.
- Each book's part is a sale of that book at that price: ``royalty_for`` of the
  part, then the book's co-author shares (``split_royalty``).
- A bundle's minimum keeps every part at or above the lowest paid price
  (catalog.bundles.lowest_minimum), so no part lands in the invalid band below it.
- "Complete the bundle": a reader who owns some of the books pays for the rest
  only. Their range is the bundle's minimum and suggested scaled by the rest's
  share of the weights (rounded up), the top scaled the same way; what they
  pay is split across the rest only, by the same rule.
"""

from dataclasses import dataclass

from .pricing import PriceRange, price_range
from .royalties import royalty_for, split_royalty


def split_price(price_cents: int, weights: list[int]) -> list[int]:
    """``price_cents`` in parts proportional to ``weights``, summing to it exactly.

    Each part gets its floor, then the leftover cents go to the largest
    fractional remainders (earlier books win ties), as co-author shares do."""
    if price_cents < 0:
        raise ValueError("price must not be negative")
    return split_royalty(price_cents, weights)


def _scaled_up(cents: int, part: int, whole: int) -> int:
    return -(-cents * part // whole)


def range_for_rest(bundle_range: PriceRange, weights: list[int], rest: list[int]) -> PriceRange:
    """The price range for the books at indexes ``rest`` of a bundle whose books
    weigh ``weights``: every bound scaled by the rest's share of the weights.

    Rounded up, so the minimum keeps every part at or above the lowest paid price (it is at least the
    bundle minimum's own parts for those books)."""
    whole, part = sum(weights), sum(weights[i] for i in rest)
    return PriceRange(
        minimum=_scaled_up(bundle_range.minimum, part, whole),
        suggested=_scaled_up(bundle_range.suggested, part, whole),
        maximum=_scaled_up(bundle_range.maximum, part, whole),
    )


@dataclass(frozen=True)
class BookPart:
    """One book's part of a bundle sale: its price, royalty and each co-author's cut."""

    book: object
    price_cents: int
    royalty_cents: int
    author_cents: list[tuple[object, int]]  # (author, cents) in credit order


def book_parts(books: list, weights: list[int], price_cents: int) -> list[BookPart]:
    """Each book's part of ``price_cents``: ``books`` carry ``authorships`` (with
    ``author`` and ``royalty_share``), in the same order as ``weights``."""
    parts = []
    for book, cents in zip(books, split_price(price_cents, weights), strict=True):
        royalty = royalty_for(cents)
        authorships = list(book.authorships.all())
        cuts = split_royalty(royalty, [a.royalty_share for a in authorships]) if authorships else []
        parts.append(
            BookPart(
                book=book,
                price_cents=cents,
                royalty_cents=royalty,
                author_cents=[(a.author, cut) for a, cut in zip(authorships, cuts, strict=True)],
            )
        )
    return parts


def earnings_by_author(parts: list[BookPart]) -> list[tuple[object, int]]:
    """What each author earns from the sale, summed over their books, in book order."""
    totals: dict = {}
    for part in parts:
        for author, cents in part.author_cents:
            totals[author] = totals.get(author, 0) + cents
    return list(totals.items())


def bundle_range(bundle) -> PriceRange:
    """The bundle's slider: the book rule's range (min, suggested, a sensible top)."""
    return price_range(bundle)
