"""The bundle split: proportional to the books' suggested prices, to the cent,
never a part in the invalid 1-98¢ band, and each part through the royalty rule
and the co-author shares."""

from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from catalog.bundles import lowest_minimum
from payments.bundle_pricing import book_parts, earnings_by_author, range_for_rest, split_price
from payments.pricing import PriceRange
from payments.royalties import royalty_for

weights = st.lists(st.integers(min_value=99, max_value=50_000), min_size=2, max_size=8)


@given(price=st.integers(min_value=0, max_value=10**7), weights=weights)
def test_the_parts_sum_to_the_price_and_each_is_within_a_cent_of_its_share(price, weights):
    parts = split_price(price, weights)
    assert sum(parts) == price
    total = sum(weights)
    for part, weight in zip(parts, weights, strict=True):
        assert price * weight // total <= part <= price * weight // total + 1


@given(weights=weights, extra=st.integers(min_value=0, max_value=10**6))
def test_at_or_above_the_lowest_minimum_no_part_is_below_99_cents(weights, extra):
    price = lowest_minimum(weights) + extra
    assert min(split_price(price, weights)) >= 99
    assert all(royalty_for(part) >= 0 for part in split_price(price, weights))


@given(weights=weights)
def test_the_lowest_minimum_is_the_lowest_that_works(weights):
    """One cent less and the cheapest book's floor share drops below 99¢."""
    below = lowest_minimum(weights) - 1
    assert below * min(weights) // sum(weights) < 99


@given(
    weights=weights,
    extra=st.integers(min_value=0, max_value=10**5),
    data=st.data(),
)
def test_the_rest_of_a_bundle_keeps_every_part_at_99_cents_or_more(weights, extra, data):
    minimum = lowest_minimum(weights)
    full = PriceRange(minimum=minimum, suggested=minimum + extra, maximum=minimum * 3 + extra)
    rest = sorted(
        data.draw(st.sets(st.integers(0, len(weights) - 1), min_size=1, max_size=len(weights) - 1))
    )
    bounds = range_for_rest(full, weights, rest)
    assert bounds.minimum <= bounds.suggested <= bounds.maximum
    assert bounds.minimum <= full.minimum
    price = data.draw(st.integers(bounds.minimum, bounds.maximum))
    assert min(split_price(price, [weights[i] for i in rest])) >= 99


def _book(title, *shares):
    authors = [f"{title}-{i}" for i in range(len(shares))]
    authorships = [
        SimpleNamespace(author=a, royalty_share=s) for a, s in zip(authors, shares, strict=True)
    ]
    return SimpleNamespace(title=title, authorships=SimpleNamespace(all=lambda: authorships))


def test_a_30_dollar_bundle_of_a_solo_and_a_co_written_book_to_the_cent():
    solo, duo = _book("solo", 100), _book("duo", 60, 40)
    parts = book_parts([solo, duo], [1999, 999], 30_00)
    # 3000 · 1999/2998 = 2000.33 → 2000; 3000 · 999/2998 = 999.67 → 999 +1 (largest remainder)
    assert [p.price_cents for p in parts] == [2000, 1000]
    assert [p.royalty_cents for p in parts] == [1600, 800]  # 80% of each ($7.99 and more)
    assert [cents for _, cents in parts[1].author_cents] == [480, 320]
    earned = dict(earnings_by_author(parts))
    assert sum(earned.values()) == 2400
    assert 3000 - sum(earned.values()) == 600  # the platform's, from both sales


@given(
    price=st.integers(min_value=300, max_value=10**6),
    shares=st.sampled_from([(100,), (50, 50), (34, 33, 33), (1, 99)]),
)
def test_every_author_cut_sums_to_each_books_royalty(price, shares):
    books = [_book("a", *shares), _book("b", 100), _book("c", *shares)]
    parts = book_parts(books, [100, 100, 100], price)
    for part in parts:
        assert (
            sum(c for _, c in part.author_cents)
            == part.royalty_cents
            == royalty_for(part.price_cents)
        )


def test_a_negative_price_is_refused():
    with pytest.raises(ValueError):
        split_price(-1, [1, 2])
