"""Paying with Stripe, end to end against localstripe: our pages create the
PaymentIntent, the test confirms it as Stripe.js would, and localstripe's signed
webhook to our live server fulfils (or fails) the order."""

import pytest
import stripe
from django.urls import reverse

from core.models import EmailDelivery
from library.models import Entitlement
from payments.gateways import PaymentStart, get_gateway
from payments.gateways import stripe as stripe_gateway
from payments.ledger import audit
from payments.models import LedgerEntry, LedgerTransaction, Order, WebhookEvent
from tests.payments.conftest import (
    PUBLISHABLE_KEY,
    SECRET_KEY,
    free_port,
    pay,
    stripe_order,
    wait_for,
)


def open_pay_page(client, book, amount):
    """Checkout, then the pay page; returns the order and the page's HTML."""
    response = pay(client, book, amount)
    order = Order.objects.get()
    assert response["Location"] == reverse("payments:pay_order", args=[order.public_id])
    page = client.get(response["Location"])
    assert page.status_code == 200
    order.refresh_from_db()
    return order, page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_a_reader_pays_by_card_and_stripes_webhook_fulfils_the_order(
    client, reader, book, stripe_settings, stripe_webhooks, mailoutbox
):
    order, html = open_pay_page(client, book, "19.50")

    assert (order.gateway, order.status) == ("stripe", "pending")
    assert order.gateway_reference.startswith("pi_")
    intent = stripe_webhooks.api.v1.payment_intents.retrieve(order.gateway_reference)
    assert f'data-client-secret="{intent.client_secret}"' in html
    assert f'data-publishable-key="{PUBLISHABLE_KEY}"' in html
    assert (intent.amount, intent.currency, intent.status) == (
        1950,
        "usd",
        "requires_payment_method",
    )
    assert intent.metadata["order_id"] == str(order.pk)
    assert intent.metadata["public_id"] == str(order.public_id)
    delivered_before = len(stripe_webhooks.deliveries())

    assert stripe_webhooks.confirm(intent.id, "pm_card_visa").status == "succeeded"

    assert wait_for(lambda: Order.objects.get(pk=order.pk).status == "paid"), "never paid"
    assert wait_for(lambda: len(stripe_webhooks.deliveries()) > delivered_before)
    deliveries = stripe_webhooks.deliveries()[delivered_before:]
    assert "payment_intent.succeeded: delivered" in deliveries, deliveries
    assert all(d.endswith(": delivered") for d in deliveries), deliveries
    order.refresh_from_db()
    assert order.paid_at and not order.failure_reason
    assert Entitlement.objects.get(user=reader, book=book).is_active
    assert audit().ok, audit().problems
    assert LedgerTransaction.objects.filter(order=order, kind="sale").count() == 1
    assert WebhookEvent.objects.get(order=order).outcome == "order paid"
    receipt = EmailDelivery.objects.get(key=f"receipt:order-{order.pk}")
    assert wait_for(lambda: EmailDelivery.objects.get(pk=receipt.pk).status == "sent")
    assert [m.subject for m in mailoutbox] == [f"Your receipt for {book.title}"]
    assert mailoutbox[0].to == [reader.email] and "$19.50" in mailoutbox[0].body


@pytest.mark.django_db(transaction=True)
def test_a_declined_card_fails_the_order_through_the_webhook_and_grants_nothing(
    client, reader, book, stripe_settings, stripe_webhooks, mailoutbox
):
    order, _html = open_pay_page(client, book, "19.50")
    delivered_before = len(stripe_webhooks.deliveries())

    with pytest.raises(stripe.CardError, match=r"Your card was declined\."):
        stripe_webhooks.confirm(order.gateway_reference, "pm_card_chargeCustomerFail")

    assert wait_for(lambda: Order.objects.get(pk=order.pk).status == "failed"), "never failed"
    assert wait_for(lambda: len(stripe_webhooks.deliveries()) > delivered_before)
    deliveries = stripe_webhooks.deliveries()[delivered_before:]
    assert "payment_intent.payment_failed: delivered" in deliveries, deliveries
    order.refresh_from_db()
    assert order.failure_reason == "Your card was declined." and order.failed_at
    assert not Entitlement.objects.exists()
    assert not LedgerEntry.objects.exists() and not LedgerTransaction.objects.exists()
    assert not EmailDelivery.objects.filter(key=f"receipt:order-{order.pk}").exists()
    assert mailoutbox == []
    assert audit().ok
    # The order page tells the reader why.
    detail = client.get(reverse("payments:order", args=[order.public_id])).content.decode()
    assert "Your card was declined." in detail


@pytest.mark.django_db
def test_reloading_the_pay_page_resumes_the_same_payment_intent(
    client, reader, book, stripe_settings, localstripe
):
    order, html = open_pay_page(client, book, "20")
    again = client.get(reverse("payments:pay_order", args=[order.public_id])).content.decode()

    intents = [
        intent
        for intent in localstripe.api.v1.payment_intents.list(
            params={"limit": 100}
        ).auto_paging_iter()
        if intent.metadata.to_dict().get("public_id") == str(order.public_id)
    ]
    assert [intent.id for intent in intents] == [order.gateway_reference]
    assert f'data-client-secret="{intents[0].client_secret}"' in html
    assert f'data-client-secret="{intents[0].client_secret}"' in again


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("payment_method", "succeeded", "failed", "message"),
    [
        ("pm_card_visa", True, False, ""),
        ("pm_card_chargeCustomerFail", False, True, "Your card was declined."),
    ],
)
def test_the_gateway_reads_back_what_stripe_says_about_a_payment(
    reader, book, stripe_settings, localstripe, payment_method, succeeded, failed, message
):
    order = stripe_order(reader, book, 2499)
    gateway = get_gateway("stripe")
    pending = gateway.payment_state(order.gateway_reference)
    assert (pending.succeeded, pending.failed) == (False, False)

    try:
        localstripe.confirm(order.gateway_reference, payment_method)
    except stripe.CardError:
        assert failed

    state = gateway.payment_state(order.gateway_reference)
    assert (state.reference, state.amount_cents, state.currency) == (
        order.gateway_reference,
        2499,
        "USD",
    )
    assert (state.succeeded, state.failed, state.failure_message) == (succeeded, failed, message)


def test_real_stripe_is_sent_the_description_and_receipt_email(settings, monkeypatch):
    """Only localstripe (STRIPE_API_BASE set) is spared the fields it rejects."""
    sent = []

    class FakeIntents:
        def create(self, params, options):
            sent.append((params, options))
            return stripe.StripeObject.construct_from(
                {"id": "pi_123", "client_secret": "pi_123_secret_x"}, "sk_test"
            )

    class FakeClient:
        v1 = type("V1", (), {"payment_intents": FakeIntents()})()

    monkeypatch.setattr(stripe_gateway, "client", FakeClient)
    request = PaymentStart(
        order_id=7,
        public_id="0f6c",
        amount_cents=1950,
        currency="USD",
        description="A book (Storefront)",
        idempotency_key="order-0f6c-pay",
        customer_email="reader@example.com",
        metadata={"book": "a-book"},
    )

    settings.STRIPE_API_BASE = ""
    session = stripe_gateway.StripeGateway().start_payment(request)
    settings.STRIPE_API_BASE = "http://127.0.0.1:1"
    stripe_gateway.StripeGateway().start_payment(request)

    assert (session.reference, session.client_secret) == ("pi_123", "pi_123_secret_x")
    (real, real_options), (local, _) = sent
    assert real["description"] == "A book (Storefront)"
    assert real["receipt_email"] == "reader@example.com"
    assert real["metadata"] == {"order_id": "7", "public_id": "0f6c", "book": "a-book"}
    assert real_options == {"idempotency_key": "order-0f6c-pay"}
    assert "description" not in local and "receipt_email" not in local
    assert {k: v for k, v in real.items() if k in local} == local


@pytest.mark.django_db
def test_when_stripe_is_unreachable_the_reader_is_sent_back_and_no_payment_is_recorded(
    client, reader, book, settings
):
    settings.PAYMENT_GATEWAY = "stripe"
    settings.STRIPE_SECRET_KEY = SECRET_KEY
    settings.STRIPE_API_BASE = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    pay(client, book, "20")
    order = Order.objects.get()

    response = client.get(reverse("payments:pay_order", args=[order.public_id]), follow=True)

    assert response.redirect_chain[0][0] == book.get_absolute_url()
    assert "The payment provider is not answering" in response.content.decode()
    order.refresh_from_db()
    assert (order.status, order.gateway_reference) == ("pending", "")
