"""A guest's paid page is their books: the browser that paid downloads each book of
the payment (a stamped book's own stamped copy), while the line stays paid; another
session, a refunded line or a tampered id gets nothing, and the page looks the same
for a new address and one with an account."""

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from payments import refunds
from payments.models import Order, Payment
from tests.ebook_checks import pdf_pages_text
from tests.factories import BookFactory, UserFactory
from tests.library.test_stamped_files import FILES, buy, publish
from tests.payments.test_guest_checkout import fill_cart, pay_as_guest

pytestmark = pytest.mark.django_db


@pytest.fixture
def books():
    stamped = BookFactory(title="Stamped Cart Book", stamp_files=True, minimum_price_cents=999)
    plain = BookFactory(title="Plain Cart Book", minimum_price_cents=500)
    for book in (stamped, plain):
        publish(book, "1.0")
    return stamped, plain


def download_url(payment, book, fmt="pdf"):
    return reverse("payments:guest_download", args=[payment.public_id, book.pk, fmt])


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def paid_as_guest(client, books, email="guest.books@example.com"):
    fill_cart(client, books, ("12.00", "7.50")[: len(books)])
    response = pay_as_guest(client, email)
    payment = Payment.objects.get(buyer__email=email)
    assert response["Location"] == payment.get_absolute_url()
    return payment


def test_the_paid_page_lists_the_books_and_downloads_the_stamped_copy(client, books):
    stamped, plain = books
    payment = paid_as_guest(client, books)

    page = client.get(payment.get_absolute_url())
    html = page.content.decode()
    assert page.context["books"] and [b.order.book for b in page.context["books"]] == [
        stamped,
        plain,
    ]
    for book in books:
        for fmt in ("pdf", "epub"):
            assert download_url(payment, book, fmt) in html

    response = client.get(download_url(payment, stamped))
    assert response.status_code == 200
    data = body(response)
    assert data != FILES["1.0"]["pdf"]  # the buyer's own stamped copy, never the original
    pages = pdf_pages_text(data)
    assert pages and all("guest.books@example.com" in " ".join(p.split()) for p in pages)

    epub = client.get(download_url(payment, plain, "epub"))
    assert epub.status_code == 200 and body(epub) == FILES["1.0"]["epub"]
    assert not client.session.get("_auth_user_id")  # still not signed in


def test_another_session_gets_nothing(client, books):
    stamped, _ = books
    payment = paid_as_guest(client, books)

    other = Client()
    assert other.get(payment.get_absolute_url()).status_code == 404
    assert other.get(download_url(payment, stamped)).status_code == 404
    reader = UserFactory()
    other.force_login(reader)
    assert other.get(download_url(payment, stamped)).status_code == 404


def test_a_refunded_line_downloads_nothing_and_the_other_still_does(client, books):
    stamped, plain = books
    payment = paid_as_guest(client, books)
    order = Order.objects.get(payment=payment, book=plain)
    refunds.refund_order(order_id=order.pk, actor=payment.buyer)
    assert Order.objects.get(pk=order.pk).status == "refunded"

    assert client.get(download_url(payment, plain)).status_code == 404
    html = client.get(payment.get_absolute_url()).content.decode()
    assert download_url(payment, plain) not in html
    assert download_url(payment, stamped) in html
    assert client.get(download_url(payment, stamped)).status_code == 200


def test_tampered_ids_get_nothing(client, books):
    stamped, plain = books
    payment = paid_as_guest(client, books[:1])
    # A book the same account owns from another purchase is not this payment's.
    buy(payment.buyer, plain)
    assert client.get(download_url(payment, plain)).status_code == 404
    assert client.get(download_url(payment, stamped, "docx")).status_code == 404
    url = reverse("payments:guest_download", args=[uuid.uuid4(), stamped.pk, "pdf"])
    assert client.get(url).status_code == 404
    assert client.get(download_url(payment, stamped)).status_code == 200


def test_the_page_looks_the_same_for_an_address_with_an_account(client, books):
    existing = UserFactory(email="has.account@example.com")
    owned = BookFactory(title="Owned Elsewhere")
    publish(owned, "1.0")
    buy(existing, owned)

    def shown(client, email):
        payment = paid_as_guest(client, books, email=email)
        html = client.get(payment.get_absolute_url()).content.decode()
        return html.replace(str(payment.public_id), "ID").replace(email, "EMAIL")

    new_page = shown(client, "brand.new@example.com")

    existing_page = shown(Client(), "has.account@example.com")
    assert "Owned Elsewhere" not in existing_page
    strip = lambda html: html.split("<main", 1)[1].split("</main>", 1)[0]  # noqa: E731
    assert strip(new_page).count('data-testid="guest-download"') == 4
    assert strip(existing_page).count('data-testid="guest-download"') == 4


def test_the_paid_page_costs_the_same_queries_for_one_or_two_books(client, books):
    counts = []
    for index, chosen in enumerate((books[:1], books)):
        visitor = Client() if index else client
        payment = paid_as_guest(visitor, chosen, email=f"q{index}@example.com")
        with CaptureQueriesContext(connection) as queries:
            assert visitor.get(payment.get_absolute_url()).status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
