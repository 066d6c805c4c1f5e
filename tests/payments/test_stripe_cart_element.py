"""Stripe's Payment Element on the cart page (deferred intent), against localstripe:
the page mounts the Element with the cart's amount; its JSON endpoint places one
payment and one PaymentIntent per cart page, a double submit gets the same one, a
stale cart is a 409 problem, a guest pays with an e-mail address. No browser test:
Stripe.js cannot load without the network."""

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from payments.models import Payment
from tests.concurrency import at_once
from tests.conftest import require
from tests.factories import BookFactory, UserFactory
from tests.payments.conftest import PUBLISHABLE_KEY

pytestmark = pytest.mark.django_db

CART = reverse("payments:cart")
INTENT = reverse("payments:cart_intent")


@pytest.fixture
def books():
    return [
        BookFactory(title=title, minimum_price_cents=500, suggested_price_cents=1999)
        for title in ("Element One", "Element Two", "Element Three")
    ]


def cart_page(client, books, amounts=("10.00", "24.99", "7.99")):
    for book, amount in zip(books, amounts, strict=True):
        client.get(reverse("payments:cart_add", args=[book.slug]), {"amount": amount})
    return client.get(CART)


def form_of(page, **extra) -> dict:
    return {
        "checkout_token": str(page.context["checkout_token"]),
        "version": page.context["contents"].version,
        **extra,
    }


def test_the_cart_page_mounts_the_payment_element_with_the_carts_amount(
    client, books, stripe_settings
):
    client.force_login(UserFactory())
    html = cart_page(client, books).content.decode()

    assert 'id="payment-element"' in html
    assert f'data-publishable-key="{PUBLISHABLE_KEY}"' in html
    assert 'data-amount="4298"' in html and 'data-currency="usd"' in html
    assert f'data-intent-url="{INTENT}"' in html
    assert '<script src="https://js.stripe.com/v3/"></script>' in html
    assert "js/stripe-cart" in html
    # Without JavaScript the same form still posts to the checkout.
    assert f'action="{reverse("payments:cart_checkout")}"' in html


def test_one_payment_intent_for_the_cart_and_a_double_submit_gets_the_same(
    client, books, stripe_settings, localstripe
):
    client.force_login(UserFactory())
    page = cart_page(client, books)

    first = client.post(INTENT, form_of(page))
    again = client.post(INTENT, form_of(page))

    assert first.status_code == 200, first.content
    assert again.json() == first.json()
    payment = Payment.objects.get()
    assert first.json()["return_url"] == "http://testserver" + payment.get_absolute_url()
    intent = localstripe.api.v1.payment_intents.retrieve(payment.gateway_reference)
    assert intent.client_secret == first.json()["client_secret"]
    assert (intent.amount, intent.currency) == (1000 + 2499 + 799, "usd")
    assert intent.metadata["payment_id"] == str(payment.pk)
    assert payment.orders.count() == 3
    assert set(payment.orders.values_list("gateway_reference", flat=True)) == {intent.id}
    assert payment.status == "pending"  # paid by the webhook only


def test_a_stale_cart_is_refused_with_a_409_problem(client, books, stripe_settings):
    client.force_login(UserFactory())
    page = cart_page(client, books)
    client.post(reverse("payments:cart_update"), {"book": books[0].pk, "remove": "1"})  # a tab

    response = client.post(INTENT, form_of(page))

    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert "changed" in response.json()["detail"]
    assert not Payment.objects.exists()


def test_a_guest_pays_with_an_email_address(client, books, stripe_settings, localstripe):
    page = cart_page(client, books)
    html = page.content.decode()
    assert 'name="email"' in html and 'id="payment-element"' in html

    bad = client.post(INTENT, form_of(page, email="not an address"))
    assert bad.status_code == 400 and "email" in bad.json()["errors"]
    assert not Payment.objects.exists()

    response = client.post(INTENT, form_of(page, email="Element.Guest@Example.com"))

    assert response.status_code == 200, response.content
    payment = Payment.objects.get()
    assert payment.guest_checkout and payment.buyer.email == "element.guest@example.com"
    intent = localstripe.api.v1.payment_intents.retrieve(payment.gateway_reference)
    assert intent.client_secret == response.json()["client_secret"]
    # Stripe's return_url is the payment's page: this browser may see it, no one else.
    assert client.get(payment.get_absolute_url()).status_code == 200
    assert Client().get(payment.get_absolute_url()).status_code == 404


def test_the_demo_gateway_has_no_intent_endpoint_and_no_stripe_js(client, books, settings):
    settings.PAYMENT_GATEWAY = "demo"
    page = cart_page(client, books)
    html = page.content.decode()
    assert "js.stripe.com" not in html and 'id="payment-element"' not in html
    assert "js.stripe.com" not in page["Content-Security-Policy"]
    refused = client.post(INTENT, form_of(page, email="a@example.com"))
    assert refused.status_code == 400 and refused["Content-Type"] == "application/problem+json"
    assert not Payment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_submits_at_once_get_one_payment_intent_on_postgresql(books, stripe_settings):
    """The same cart page posted twice at the same instant (two tabs, a double click
    the browser sent twice): one payment, one PaymentIntent, the same client secret."""
    require(connection.vendor == "postgresql", "concurrent inserts need PostgreSQL")
    reader = UserFactory()
    tabs = [Client(), Client()]
    for tab in tabs:
        tab.force_login(reader)
    form = form_of(cart_page(tabs[0], books))

    responses = at_once(*(lambda tab=tab: tab.post(INTENT, form) for tab in tabs))

    assert [r.status_code for r in responses] == [200, 200], [r.content for r in responses]
    assert responses[0].json() == responses[1].json()
    assert Payment.objects.count() == 1 and Payment.objects.get().orders.count() == 3
