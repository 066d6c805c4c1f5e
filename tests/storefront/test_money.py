import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.money import PriceError, format_cents, parse_price


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("24.99", 2499),
        ("24", 2400),
        ("$24.99", 2499),
        (" 7.9 ", 790),
        ("0", 0),
        ("1,024.50", 102450),
        ("0.99", 99),
    ],
)
def test_it_parses_what_people_type(text, cents):
    assert parse_price(text) == cents


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("abc", "Enter a price like 24.99."),
        ("-5", "The price cannot be negative."),
        ("1e9", "Enter a price like 24.99."),
        ("NaN", "Enter a price like 24.99."),
        ("Infinity", "Enter a price like 24.99."),
        ("0.999", "Use at most two decimals (cents)."),
        ("", "Enter a price."),
        ("99999999999", "That price is too large."),
        ("1,00", "Enter a price like 24.99."),
        ("0x10", "Enter a price like 24.99."),
        ("٢٤", "Enter a price like 24.99."),
    ],
)
def test_it_refuses_anything_else_with_a_clear_message(text, message):
    with pytest.raises(PriceError, match=re.escape(message)):
        parse_price(text)


@given(st.text(max_size=30))
def test_any_text_either_parses_to_non_negative_cents_or_raises_price_error(text):
    try:
        cents = parse_price(text)
    except PriceError:
        return
    assert isinstance(cents, int) and 0 <= cents <= 10**9


@given(st.integers(min_value=0, max_value=10**9))
def test_formatting_round_trips(cents):
    assert parse_price(format_cents(cents)) == cents


def test_negative_amounts_format_with_a_leading_sign():
    assert format_cents(-150) == "-$1.50"
