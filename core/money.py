"""Money is integer cents. This is the one place text becomes cents."""

import re
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# "$24.99", "24.99", "24", " 24.9 ", "1,024.50"; never "1e3", "NaN", "-5", "0.999".
_PRICE = re.compile(r"^\$?\s*(?P<number>\d{1,3}(,\d{3})+|\d+)(\.(?P<cents>\d{1,2}))?$", re.ASCII)
ABSURD_CENTS = 10**9  # $10,000,000: anything above is a typo or an attack
# A book is free ($0) or costs at least $0.99: below that the flat fee would
# eat the whole royalty. payments/royalties.py builds its rule on this.
MIN_PAID_PRICE_CENTS = 99


class PriceError(ValueError):
    """A price that cannot be parsed; its message is fit to show to a user."""


def parse_price(text) -> int:
    """Parse what a person typed as a price into integer cents.

    Accepts an optional "$", thousands separators and up to two decimals.
    Rejects negatives, exponents, NaN/Infinity, more than two decimals and
    absurdly large amounts, with a message that says what is wrong.
    """
    if text is None:
        raise PriceError("Enter a price.")
    raw = str(text).strip()
    if not raw:
        raise PriceError("Enter a price.")
    if raw.startswith("-"):
        raise PriceError("The price cannot be negative.")
    match = _PRICE.match(raw)
    if not match:
        if re.fullmatch(r"\$?\s*\d+\.\d{3,}", raw):
            raise PriceError("Use at most two decimals (cents).")
        raise PriceError("Enter a price like 24.99.")
    number = match["number"].replace(",", "")
    try:
        amount = Decimal(f"{number}.{match['cents'] or '0'}")
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only digits
        raise PriceError("Enter a price like 24.99.") from exc
    cents = int((amount * 100).to_integral_value(rounding=ROUND_HALF_UP))
    if cents > ABSURD_CENTS:
        raise PriceError("That price is too large.")
    return cents


def is_valid_price(cents: int) -> bool:
    """$0 (free) or at least $0.99."""
    return cents == 0 or cents >= MIN_PAID_PRICE_CENTS


def format_cents(cents: int, currency: str = "USD") -> str:
    """ "$24.99"; "-$1.50" for negative amounts (refunds, reversals)."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(int(cents)), 100)
    symbol = "$" if currency == "USD" else f"{currency} "
    return f"{sign}{symbol}{dollars:,}.{rest:02d}"


def format_plain(cents: int) -> str:
    """ "24.99" (the value an <input type=number> takes); "-1.50" for negatives."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(int(cents)), 100)
    return f"{sign}{dollars}.{rest:02d}"
