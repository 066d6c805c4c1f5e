"""Checkout on the cart page with only an e-mail address (demo card): the account
exists afterwards, the books are in its library, the receipt carries a one-time
sign-in link; an address with an account is never revealed."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from core.models import EmailDelivery
from library.models import Entitlement
from payments.ledger import audit
from payments.models import Order, Payment, Refund
from tests.factories import BookFactory, UserFactory
from tests.payments.conftest import VISA

pytestmark = pytest.mark.django_db

User = get_user_model()
CART = reverse("payments:cart")


@pytest.fixture
def books():
    return (
        BookFactory(title="Solo Book", minimum_price_cents=999, suggested_price_cents=1999),
        BookFactory(title="Other Book", minimum_price_cents=500, suggested_price_cents=2499),
    )


def fill_cart(client, books, amounts=("12.00", "7.50")):
    for book, amount in zip(books, amounts, strict=True):
        client.get(reverse("payments:cart_add", args=[book.slug]), {"amount": amount})


def pay_as_guest(client, email, card=VISA):
    page = client.get(CART)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'name="email"' in html and 'name="card_number"' in html  # one form, one page
    return client.post(
        reverse("payments:cart_checkout"),
        {
            "checkout_token": str(page.context["checkout_token"]),
            "version": page.context["contents"].version,
            "email": email,
            "card_number": card,
            "expiry": "12/34",
            "cvc": "123",
        },
    )


def sign_in_link(receipt) -> str:
    return re.search(r"https?://\S+/accounts/link/\S+/", receipt.body).group(0)


def path_of(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def test_a_visitor_pays_with_an_email_and_signs_in_from_the_receipt(
    client, books, django_capture_on_commit_callbacks
):
    fill_cart(client, books)

    with django_capture_on_commit_callbacks(execute=True):
        response = pay_as_guest(client, "New.Reader@Example.com ")

    reader = User.objects.get(email="new.reader@example.com")
    assert not reader.has_usable_password()
    payment = Payment.objects.get()
    assert response["Location"] == payment.get_absolute_url()
    thanks = client.get(response["Location"]).content.decode()
    assert "one-time sign-in link to <strong>new.reader@example.com</strong>" in thanks
    assert set(Order.objects.values_list("status", flat=True)) == {"paid"}
    assert Entitlement.objects.filter(user=reader, revoked_at=None).count() == 2
    receipt = EmailDelivery.objects.get(key=f"receipt:payment-{payment.pk}")
    assert "We made you an account" in receipt.body
    assert "set a password" in receipt.body
    assert audit().ok

    link = path_of(sign_in_link(receipt))
    assert client.get(link).status_code == 200  # asks to confirm: scanners spend nothing
    signed_in = client.post(link)
    assert signed_in["Location"] == reverse("library:index")
    library = client.get(signed_in["Location"]).content.decode()
    assert "Solo Book" in library and "Other Book" in library

    client.logout()
    assert client.post(link).status_code == 410  # single use


def test_an_address_with_an_account_is_never_revealed(
    client, books, django_capture_on_commit_callbacks
):
    owner = UserFactory(email="known@example.com")
    Entitlement.objects.create(user=owner, book=books[1], granted_at="2026-01-01T00:00Z")
    fill_cart(client, books)

    with django_capture_on_commit_callbacks(execute=True):
        response = pay_as_guest(client, "known@example.com")

    # The same answer a new address gets; what the account owns stays in the e-mail.
    payment = Payment.objects.get()
    assert response["Location"] == payment.get_absolute_url()
    thanks = client.get(response["Location"]).content.decode()
    assert "We sent your receipt and a one-time sign-in link" in thanks
    # The paid page lists the payment's books (payments.guest_books), nothing else of
    # the account's; the line it owned already has no download (see the decision).
    assert "Solo Book" in thanks
    other = reverse("payments:guest_download", args=[payment.public_id, books[1].pk, "pdf"])
    assert other not in thanks
    assert payment.buyer == owner and owner.has_usable_password()
    assert Order.objects.get(book=books[0]).status == "paid"
    owned_line = Order.objects.get(book=books[1])
    assert owned_line.status == "refunded"  # owned already: refunded in full, alone
    assert Refund.objects.get(order=owned_line).amount_cents == 750
    receipt = EmailDelivery.objects.get(key=f"receipt:payment-{payment.pk}")
    assert "This address already has an account" in receipt.body
    assert "you owned it already" in receipt.body
    assert audit().ok


def test_a_bad_email_or_card_charges_nothing(client, books):
    fill_cart(client, books)

    bad_email = pay_as_guest(client, "not-an-address")
    assert bad_email.status_code == 400
    assert "Enter a valid email address." in bad_email.content.decode()
    declined = pay_as_guest(client, "someone@example.com", card="4000 0000 0000 0002")
    assert declined.status_code == 402
    assert not Order.objects.filter(status="paid").exists()
    assert not User.objects.filter(email="not-an-address").exists()


def test_another_visitor_cannot_see_a_guests_payment(client, books):
    fill_cart(client, books)
    response = pay_as_guest(client, "guest@example.com")
    stranger = client.__class__()
    assert stranger.get(response["Location"]).status_code == 404
    stranger.force_login(UserFactory())
    assert stranger.get(response["Location"]).status_code == 404


def test_guest_checkouts_are_limited_per_address(client, books, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "guest_checkout": "2/h/account"}
    fill_cart(client, books)
    for _ in range(2):
        assert (
            pay_as_guest(client, "many@example.com", card="4000 0000 0000 0002").status_code == 402
        )

    assert pay_as_guest(client, "Many@Example.com").status_code == 429
    assert not Order.objects.filter(status="paid").exists()
