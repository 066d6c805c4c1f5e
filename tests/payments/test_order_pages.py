"""What the reader's order pages say: an unpaid order never reads like a purchase,
"Try again" is one click, a refund shows as a refund, and the checkout and the
receipt say what the reader already has (the book, or a pre-order)."""

import re
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog.models import Release, ReleaseFile
from library.services import grant_entitlement
from payments import services
from payments.models import Order
from tests.factories import BookFactory, UserFactory
from tests.payments.conftest import DECLINED, VISA, card, pay

pytestmark = pytest.mark.django_db


def with_files(book):
    """Publish a release with a PDF: the book is no longer a pre-order."""
    release = Release.objects.create(book=book, version="1.0", published_at=timezone.now())
    ReleaseFile.objects.create(release=release, format="pdf", file="releases/the-book.pdf")
    book.current_release = release
    book.save(update_fields=["current_release"])
    return book


def declined_order(client, book, amount="19.50") -> Order:
    pay(client, book, amount)
    order = Order.objects.latest("created_at")
    card(client, order, DECLINED)
    order.refresh_from_db()
    assert order.status == "failed"
    return order


def retry_token(html: str) -> str:
    return re.search(r'name="checkout_token" value="([0-9a-f-]{36})"', html)[1]


def main(response) -> str:
    """The page's own content, without the site's header, footer and meta tags."""
    html = response.content.decode()
    return html[html.index("<main") : html.index("</main>")]


def retry(client, order, token):
    return client.post(reverse("payments:retry", args=[order.public_id]), {"checkout_token": token})


# --- An unpaid order never reads like a purchase -------------------------------


def test_a_declined_order_says_nothing_was_charged_and_not_what_the_author_earns(
    client, reader, book
):
    order = declined_order(client, book)

    html = client.get(order.get_absolute_url()).content.decode()

    assert "Amount paid" not in html and "Author earns" not in html
    assert "$15.60" not in html
    assert re.search(r"\$19.50</span> — <span[^>]*>nothing was charged", html)
    assert "Declined — nothing charged" in html
    assert "refund" not in main(client.get(order.get_absolute_url())).lower()


def test_an_expired_or_pending_order_is_not_paid_either(client, reader, book):
    pay(client, book, "19.50")
    order = Order.objects.get()

    pending = client.get(order.get_absolute_url()).content.decode()
    assert "Amount paid" not in pending and "Author earns" not in pending
    assert "nothing charged yet" in pending

    services.expire_stale_orders(older_than=timezone.timedelta(0))
    expired = client.get(order.get_absolute_url()).content.decode()
    assert "Amount paid" not in expired and "Author earns" not in expired
    assert "Not completed — nothing charged" in expired


def test_the_orders_list_shows_declined_attempts_as_no_money_taken(client, reader, book):
    declined_order(client, book)
    other = BookFactory(title="Another book")
    pay(client, other, "20")
    card(client, Order.objects.get(book=other), VISA)

    html = client.get(reverse("payments:orders")).content.decode()

    rows = re.findall(r"<tr[^>]*>.*?</tr>", html, flags=re.S)
    declined = next(row for row in rows if book.title in row)
    assert "Declined — nothing charged" in declined and "Nothing charged" in declined
    assert "$19.50" not in declined and "Failed" not in declined
    bought = next(row for row in rows if "Another book" in row)
    assert "$20.00" in bought and "Receipt" in bought


# --- "Try again" in one click ---------------------------------------------------


def test_try_again_on_the_decline_places_a_new_order_and_goes_straight_to_paying(
    client, reader, book
):
    pay(client, book, "19.50")
    failed = Order.objects.get()
    declined_page = card(client, failed, DECLINED).content.decode()
    assert reverse("payments:retry", args=[failed.public_id]) in declined_page

    token = retry_token(declined_page)
    response = retry(client, failed, token)
    retry(client, failed, token)  # a double click: still one new order

    fresh = Order.objects.exclude(pk=failed.pk).get()
    assert response["Location"] == reverse("payments:pay_order", args=[fresh.public_id])
    assert (fresh.status, fresh.amount_cents, fresh.book) == ("pending", 1950, book)
    card(client, fresh, VISA)
    fresh.refresh_from_db()
    failed.refresh_from_db()
    assert (fresh.status, failed.status) == ("paid", "failed")


def test_try_again_on_the_order_page_is_one_click_too(client, reader, book):
    failed = declined_order(client, book)

    html = client.get(failed.get_absolute_url()).content.decode()
    response = retry(client, failed, retry_token(html))

    fresh = Order.objects.exclude(pk=failed.pk).get()
    assert response["Location"] == reverse("payments:pay_order", args=[fresh.public_id])
    assert fresh.amount_cents == 1950


def test_try_again_when_the_reader_owns_the_book_by_now_says_so(client, reader, book):
    failed = declined_order(client, book)
    token = retry_token(client.get(failed.get_absolute_url()).content.decode())
    grant_entitlement(user=reader, book=book, at=timezone.now())

    response = retry(client, failed, token)

    html = response.content.decode()
    assert "You own this book already" in html
    assert reverse("library:entry", args=[book.slug]) in html
    assert Order.objects.count() == 1
    page = client.get(failed.get_absolute_url()).content.decode()
    assert "In your library — download / read" in page
    assert reverse("payments:retry", args=[failed.public_id]) not in page


def test_try_again_refuses_other_readers_paid_orders_and_bad_tokens(client, reader, book):
    failed = declined_order(client, book)
    pay(client, book, "20")
    paid = Order.objects.get(status="pending")
    card(client, paid, VISA)

    assert client.get(reverse("payments:retry", args=[failed.public_id])).status_code == 405
    assert retry(client, failed, "not-a-token").status_code == 400
    assert retry(client, paid, str(uuid.uuid4()))["Location"] == paid.get_absolute_url()
    client.force_login(UserFactory())
    assert retry(client, failed, str(uuid.uuid4())).status_code == 404
    assert Order.objects.count() == 2


# --- A refund shows as a refund -------------------------------------------------


def test_a_refunded_receipt_shows_the_refund_and_not_what_the_author_earns(
    client, reader, book, django_capture_on_commit_callbacks
):
    pay(client, book, "19.50")
    order = Order.objects.get()
    card(client, order, VISA)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("payments:refund", args=[order.public_id]), {"reason": ""})
    order.refresh_from_db()
    assert order.status == "refunded"

    html = client.get(order.get_absolute_url()).content.decode()

    assert "Author earns" not in html and "$15.60" not in html
    refunded = re.search(r'data-testid="refunded">([^<]*)<', html)[1]
    assert refunded == f"$19.50 on {order.refund.refunded_at:%B %-d, %Y}"
    assert "Request refund" not in html and "100% refund" not in html


# --- The checkout and the receipt say what the reader has -----------------------


def test_the_checkout_of_an_owned_book_links_to_it_in_the_library(client, reader, book):
    grant_entitlement(user=reader, book=book, at=timezone.now())

    html = client.get(reverse("payments:checkout", args=[book.slug]), {"amount": "20"})
    html = html.content.decode()

    assert "In your library — download / read" in html
    assert reverse("library:entry", args=[book.slug]) in html
    assert "Pay $20.00" not in html and 'name="amount"' not in html


def test_a_book_without_files_is_sold_and_receipted_as_a_pre_order(
    client, reader, book, mailoutbox, django_capture_on_commit_callbacks
):
    checkout = client.post(reverse("payments:checkout", args=[book.slug]), {"amount": "20"})
    assert "Pre-order." in checkout.content.decode()

    pay(client, book, "20")
    order = Order.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        card(client, order, VISA)

    receipt = client.get(order.get_absolute_url()).content.decode()
    words = "Pre-order: the author has not published this book's files yet."
    assert words in receipt
    mail = next(m for m in mailoutbox if m.subject.startswith("Your receipt"))
    assert words in mail.body and words in mail.alternatives[0][0]


def test_a_book_with_files_is_no_pre_order(
    client, reader, book, mailoutbox, django_capture_on_commit_callbacks
):
    with_files(book)

    checkout = client.post(reverse("payments:checkout", args=[book.slug]), {"amount": "20"})
    assert "Pre-order" not in checkout.content.decode()

    pay(client, book, "20")
    order = Order.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        card(client, order, VISA)

    assert "Pre-order" not in client.get(order.get_absolute_url()).content.decode()
    mail = next(m for m in mailoutbox if m.subject.startswith("Your receipt"))
    assert "Pre-order" not in mail.body


def test_a_free_checkout_promises_no_refund(client, reader):
    pwyw = BookFactory(minimum_price_cents=0, suggested_price_cents=1000)

    free = client.post(reverse("payments:checkout", args=[pwyw.slug]), {"amount": "0"})
    paid = client.post(reverse("payments:checkout", args=[pwyw.slug]), {"amount": "10"})

    assert "Get it free" in main(free) and "refund" not in main(free).lower()
    assert "100% refund in two clicks" in paid.content.decode()
