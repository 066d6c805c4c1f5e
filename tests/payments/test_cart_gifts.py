"""A cart line bought as a gift: one payment, the other lines the buyer's own books,
the gift line a Gift exactly as the gift page makes it (delivered once, claimed,
refunded whole while unclaimed)."""

from datetime import UTC, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import EmailDelivery
from library.services import owns
from payments import gifts, refunds
from payments.ledger import audit
from payments.models import Gift, LedgerTransaction, Order, Payment
from tests.factories import UserFactory
from tests.payments.test_cart import CART, add, books, cart_form, charges, pay_cart  # noqa: F401

pytestmark = pytest.mark.django_db

GIFT = reverse("payments:cart_gift")


def mark_gift(client, book, email="friend@example.com", message="Enjoy!", on=""):
    return client.post(
        GIFT,
        {"book": book.pk, "recipient_email": email, "message": message, "deliver_on": on},
    )


def test_a_cart_with_a_normal_line_and_a_gift_line_pays_once_and_delivers_the_gift_once(
    client,
    books,  # noqa: F811
    charges,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    solo, duo = books
    reader = UserFactory()
    client.force_login(reader)
    add(client, solo, "12.00")
    add(client, duo, "24.99")
    assert mark_gift(client, duo)["Location"] == CART
    page = client.get(CART).content.decode()
    assert 'data-testid="line-gift"' in page and "friend@example.com" in page

    with django_capture_on_commit_callbacks(execute=True):
        response = pay_cart(client)

    assert response.status_code == 302
    assert len(charges) == 1
    payment = Payment.objects.get()
    assert (payment.status, payment.amount_cents) == ("paid", 3699)
    gift = Gift.objects.get()
    assert gift.payment == payment and gift.buyer == reader and gift.status == Gift.Status.SENT
    assert gift.recipient_email == "friend@example.com" and gift.message == "Enjoy!"
    gift_order = gift.orders.get()
    assert (gift_order.book, gift_order.amount_cents, gift_order.status) == (duo, 2499, "paid")
    assert owns(reader, solo) and not owns(reader, duo)  # the gift is not the buyer's copy
    assert LedgerTransaction.objects.filter(kind="sale").count() == 2
    # One claim e-mail; the gift receipt for the gift; the cart receipt for the rest.
    assert EmailDelivery.objects.filter(key__startswith=f"gift-claim:gift-{gift.pk}:").count() == 1
    assert EmailDelivery.objects.filter(key=f"gift-receipt:gift-{gift.pk}").exists()
    receipt = EmailDelivery.objects.get(key=f"receipt:payment-{payment.pk}")
    assert "Solo Book" in receipt.body and "Duo Book" not in receipt.body
    assert audit().ok, audit().problems

    # The recipient claims it; a second claim is refused.
    friend = UserFactory(email="friend@example.com")
    gifts.claim(token=gift.claim_token, user=friend)
    assert owns(friend, duo)
    with pytest.raises(gifts.GiftError):
        gifts.claim(token=gift.claim_token, user=friend)
    # Refunds per line: the normal line alone; the claimed gift no more.
    solo_order = Order.objects.get(book=solo)
    refunds.refund_order(order_id=solo_order.pk, actor=reader)
    solo_order.refresh_from_db()
    assert solo_order.status == "refunded" and not owns(reader, solo)
    with pytest.raises(refunds.RefundError):
        gifts.refund(gift_id=gift.pk, buyer=reader)
    assert owns(friend, duo)
    assert audit().ok, audit().problems


def test_an_unclaimed_gift_line_is_refunded_alone(client, books, charges):  # noqa: F811
    solo, duo = books
    reader = UserFactory()
    client.force_login(reader)
    add(client, solo, "12.00")
    add(client, duo, "24.99")
    later = (timezone.now().astimezone(UTC) + timedelta(days=5)).date()
    mark_gift(client, duo, on=later.isoformat())
    pay_cart(client)
    gift = Gift.objects.get()
    assert gift.status == Gift.Status.SCHEDULED
    gifts.refund(gift_id=gift.pk, buyer=reader)
    assert gift.orders.get().status == "refunded"
    assert Order.objects.get(book=solo).status == "paid" and owns(reader, solo)
    assert audit().ok, audit().problems


def test_a_double_click_on_a_cart_with_a_gift_makes_one_gift(client, books, charges):  # noqa: F811
    solo, duo = books
    client.force_login(UserFactory())
    add(client, solo, "12.00")
    add(client, duo, "24.99")
    mark_gift(client, duo)
    form = cart_form(client)
    pay_cart(client, form)
    pay_cart(client, form)
    assert len(charges) == 1
    assert Gift.objects.count() == 1 and Order.objects.count() == 2


def test_bad_gift_details_are_refused_and_nothing_changes(client, books):  # noqa: F811
    solo, duo = books
    client.force_login(UserFactory())
    add(client, solo, "12.00")
    yesterday = (timezone.now().astimezone(UTC) - timedelta(days=1)).date().isoformat()
    for response in (
        mark_gift(client, solo, email="not an address"),
        mark_gift(client, solo, on=yesterday),
        mark_gift(client, solo, message="x" * 2001),
        mark_gift(client, duo),  # not in the cart
        client.post(GIFT, {"book": "1; drop", "recipient_email": "a@example.com"}),
    ):
        assert response.status_code == 400
    assert client.get(CART).context["contents"].gifts == {}


def test_changing_a_gift_makes_an_open_pay_page_stale_and_not_gift_undoes_it(
    client,
    books,  # noqa: F811
    charges,  # noqa: F811
):
    solo, _ = books
    client.force_login(UserFactory())
    add(client, solo, "12.00")
    form = cart_form(client)
    mark_gift(client, solo)
    assert pay_cart(client, form).status_code == 409
    assert not charges
    assert client.post(GIFT, {"book": solo.pk, "not_gift": "1"})["Location"] == CART
    pay_cart(client)
    assert not Gift.objects.exists() and Order.objects.get().gift is None


def test_a_guest_can_pay_a_cart_with_a_gift_line(client, books, charges):  # noqa: F811
    _solo, duo = books
    add(client, duo, "24.99")
    mark_gift(client, duo)
    form = cart_form(client)
    response = pay_cart(client, {**form, "email": "guest@example.com"})
    assert response.status_code == 302
    gift = Gift.objects.get()
    assert gift.buyer.email == "guest@example.com" and gift.status == Gift.Status.SENT
    assert audit().ok, audit().problems


# A gift from a visitor without an account, on the gift page -----------------------


def guest_gift(client, book, email="guest@example.com", **overrides):
    url = reverse("payments:gift_checkout", args=[book.slug])
    page = client.get(url, {"amount": "24.99"})
    assert page.status_code == 200 and 'name="email"' in page.content.decode()
    data = {
        "amount": "24.99",
        "recipient_email": "friend@example.com",
        "message": "For you",
        "deliver_on": "",
        "email": email,
        "card_number": "4242 4242 4242 4242",
        "expiry": "12/34",
        "cvc": "123",
        "checkout_token": str(page.context["checkout_token"]),
        **overrides,
    }
    return client.post(url, data)


def test_a_visitor_gives_a_book_with_only_their_e_mail_address(
    client,
    books,  # noqa: F811
    charges,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    _solo, duo = books
    with django_capture_on_commit_callbacks(execute=True):
        response = guest_gift(client, duo)
    payment = Payment.objects.get()
    assert response["Location"] == payment.get_absolute_url() and payment.guest_checkout
    assert client.get(response["Location"]).status_code == 200  # theirs through the session
    gift = Gift.objects.get()
    assert gift.buyer.email == "guest@example.com" and gift.status == Gift.Status.SENT
    assert not gift.buyer.has_usable_password() and len(charges) == 1
    receipt = EmailDelivery.objects.get(key=f"gift-receipt:gift-{gift.pk}")
    assert receipt.to == "guest@example.com" and "one-time link" in receipt.body
    assert EmailDelivery.objects.filter(key__startswith=f"gift-claim:gift-{gift.pk}:").count() == 1
    assert audit().ok, audit().problems


def test_a_visitor_giving_from_an_existing_accounts_address_sees_the_same_page(
    client,
    books,  # noqa: F811
    charges,  # noqa: F811
):
    _solo, duo = books
    owner = UserFactory(email="owner@example.com")
    response = guest_gift(client, duo, email="owner@example.com")
    assert response["Location"] == Payment.objects.get().get_absolute_url()
    assert Gift.objects.get().buyer == owner
    page = client.get(response["Location"]).content.decode()
    assert 'data-testid="guest-gift"' in page  # what they paid for, nothing of the account
    assert 'data-testid="guest-book"' not in page and "guest-download" not in page


def test_a_visitor_with_a_bad_address_is_refused_and_nothing_charged(
    client,
    books,  # noqa: F811
    charges,  # noqa: F811
):
    _solo, duo = books
    assert guest_gift(client, duo, email="not-an-address").status_code == 400
    assert guest_gift(client, duo, recipient_email="nope").status_code == 400
    assert not charges and not Payment.objects.exists() and not Gift.objects.exists()
