"""The royalty rule of ARCHITECTURE.md, and the co-author split."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from payments.royalties import InvalidPrice, platform_share_for, royalty_for, split_royalty

TABLE = [
    (2499, 1999),
    (1000, 800),
    (2000, 1600),
    (798, 588),
    (799, 639),
    (500, 350),
    (99, 29),
    (0, 0),
]


@pytest.mark.parametrize(("price", "royalty"), TABLE)
def test_the_examples_of_the_architecture_table(price, royalty):
    assert royalty_for(price) == royalty
    assert royalty_for(price) + platform_share_for(price) == price


@pytest.mark.parametrize("price", [1, 50, 98, -1, -2499])
def test_prices_between_free_and_99_cents_are_not_valid(price):
    with pytest.raises(InvalidPrice):
        royalty_for(price)


def test_only_integer_cents_are_accepted():
    with pytest.raises(TypeError):
        royalty_for(24.99)


def expected_royalty(price):
    """The table restated independently: 80% half up, minus 50¢ below $7.99."""
    if price == 0:
        return 0
    eighty = (price * 80 + 50) // 100
    return eighty - 50 if price < 799 else eighty


@given(st.integers(min_value=99, max_value=10**9))
def test_any_valid_price_follows_the_table_and_balances(price):
    royalty = royalty_for(price)
    assert royalty == expected_royalty(price)
    assert 0 < royalty < price
    assert royalty + platform_share_for(price) == price


@given(
    st.integers(min_value=0, max_value=10**9),
    st.lists(st.integers(min_value=1, max_value=100), min_size=1, max_size=5),
)
def test_co_author_parts_sum_to_the_royalty_exactly(royalty, shares):
    parts = split_royalty(royalty, shares)
    assert sum(parts) == royalty
    assert all(part >= 0 for part in parts)
    total = sum(shares)
    # Largest remainder: every part is within a cent of its exact share.
    for part, share in zip(parts, shares, strict=True):
        assert abs(part * total - royalty * share) < total


def test_a_60_40_split_of_an_odd_royalty():
    assert split_royalty(1999, [60, 40]) == [1199, 800]
    assert split_royalty(1, [50, 50]) == [1, 0]
