"""The royalty rule: the only place that knows it.

| price paid      | author royalty (before any co-author split) |
|-----------------|---------------------------------------------|
| $0.00           | $0.00                                        |
| $0.01 - $0.98   | not a valid price                            |
| $0.99 - $7.98   | 80% of price - $0.50                         |
| $7.99 and more  | 80% of price                                 |

A credit is not a price: its cash value is its share of what the reader paid
for its pack or membership period, and may be any number of cents (a Stripe
proration, a plan priced below 99¢ a credit before the start-up check refused
it). ``royalty_for_credit`` extends the $0.99 - $7.98 line downwards: 80% of
the value minus $0.50, never below $0.00 (decision: one rule, no special
case; a credit worth 62¢ or less earns the author nothing and the platform
keeps it whole, as it keeps the fee of a cheap sale).

Rounded to the cent, half up; the platform keeps the remainder, so
royalty + platform share == price exactly. Co-authors split the royalty by
their shares with the largest-remainder method, so the parts sum exactly.
"""

import json
from decimal import ROUND_HALF_UP, Decimal

from core.money import MIN_PAID_PRICE_CENTS, is_valid_price

ROYALTY_RATE = Decimal("0.80")
FLAT_FEE_CENTS = 50
FLAT_FEE_BELOW_CENTS = 799  # the fee applies to prices below $7.99


class InvalidPrice(ValueError):
    pass


def royalty_for(price_cents: int) -> int:
    """The author's total royalty in cents for a purchase at ``price_cents``."""
    if not isinstance(price_cents, int) or isinstance(price_cents, bool):
        raise TypeError("price_cents must be an int")
    if price_cents < 0 or not is_valid_price(price_cents):
        raise InvalidPrice(f"{price_cents} cents is not a valid price")
    if price_cents == 0:
        return 0
    royalty = (ROYALTY_RATE * price_cents).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    if price_cents < FLAT_FEE_BELOW_CENTS:
        royalty -= FLAT_FEE_CENTS
    return int(royalty)


def royalty_for_credit(value_cents: int) -> int:
    """The author's total royalty for a book bought with a credit worth ``value_cents``."""
    if not isinstance(value_cents, int) or isinstance(value_cents, bool):
        raise TypeError("value_cents must be an int")
    if value_cents < 0:
        raise InvalidPrice(f"{value_cents} cents is not a credit value")
    if value_cents == 0 or value_cents >= MIN_PAID_PRICE_CENTS:
        return royalty_for(value_cents)
    royalty = (ROYALTY_RATE * value_cents).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return max(0, int(royalty) - FLAT_FEE_CENTS)


def platform_share_for(price_cents: int) -> int:
    return price_cents - royalty_for(price_cents)


def split_royalty(royalty_cents: int, shares: list[int]) -> list[int]:
    """Split ``royalty_cents`` by ``shares`` (any positive weights, e.g. percents).

    Largest remainder: each part gets its floor, then the leftover cents go to
    the largest fractional remainders (earlier co-authors win ties), so the
    parts always sum to ``royalty_cents`` exactly.
    """
    if not shares or any(s <= 0 for s in shares):
        raise ValueError("shares must be positive")
    if royalty_cents < 0:
        raise ValueError("royalty must not be negative")
    total = sum(shares)
    floors = [royalty_cents * s // total for s in shares]
    remainders = [royalty_cents * s % total for s in shares]
    leftover = royalty_cents - sum(floors)
    order = sorted(range(len(shares)), key=lambda i: (-remainders[i], i))
    for i in order[:leftover]:
        floors[i] += 1
    return floors


def rule_parameters() -> dict:
    """The rule's numbers for the browser's live "author earns" (static/js/pricing.js)."""
    return {
        "rate_percent": int(ROYALTY_RATE * 100),
        "fee_cents": FLAT_FEE_CENTS,
        "fee_below_cents": FLAT_FEE_BELOW_CENTS,
        "min_paid_cents": MIN_PAID_PRICE_CENTS,
    }


def rule_texts() -> dict:
    """The rule as pages state it: its numbers, the last price that pays the fee,
    two worked examples and the JSON for static/js/pricing.js. Built on each call
    so that a changed constant changes every text."""
    parameters = rule_parameters()
    return {
        **parameters,
        "fee_top_cents": FLAT_FEE_BELOW_CENTS - 1,
        "on_10_dollars_cents": royalty_for(10_00),
        "on_20_dollars_cents": royalty_for(20_00),
        "json": json.dumps(parameters),
    }
