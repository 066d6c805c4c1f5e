"""The Reader Membership: periods of credits, renewals once per period, cancellation."""

import json
import time
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from payments import credits, membership_billing, memberships, services
from payments.gateways.base import SubscriptionState
from payments.ledger import audit
from payments.models import CreditEntry, LedgerEntry, Membership, Order
from tests.factories import UserFactory

from .conftest import post_event, signature

pytestmark = pytest.mark.django_db


def set_monthly(settings, **terms):
    """Change the monthly plan for one test (a new dict: pytest-django restores it)."""
    plans = {name: dict(plan) for name, plan in settings.MEMBERSHIP_PLANS.items()}
    plans["monthly"].update(terms)
    settings.MEMBERSHIP_PLANS = plans


def join_demo(user, plan="monthly"):
    order = membership_billing.start(user=user, plan_name=plan, checkout_token=uuid.uuid4())
    assert services.mark_paid(order_id=order.pk, amount_cents=order.amount_cents)
    return Membership.objects.get(user=user)


def test_a_demo_membership_grants_credits_each_period_once(settings):
    set_monthly(settings, price_cents=1299, credits=2)
    reader = UserFactory()
    membership = join_demo(reader)
    assert membership.status == Membership.Status.ACTIVE
    assert credits.balance(reader) == 2
    first_end = membership.current_period_end
    assert timedelta(days=27) < first_end - timezone.now() < timedelta(days=32)

    assert membership_billing.renew_due() == 0  # not due yet
    later = first_end + timedelta(hours=1)
    assert membership_billing.renew_due(now=later) == 1
    assert membership_billing.renew_due(now=later) == 0  # a rerun (or a second beat) adds nothing
    membership.refresh_from_db()
    assert credits.balance(reader) == 4
    assert membership.current_period_end == memberships.add_months(first_end, 1)
    assert Order.objects.filter(membership=membership, status="paid").count() == 2
    assert audit().ok


def test_a_demo_membership_is_not_renewed_for_free_outside_a_demo_store(settings, caplog):
    reader = UserFactory()
    membership = join_demo(reader)
    settings.DEBUG = settings.DEMO_STORE = False  # production that kept the demo gateway

    assert membership_billing.renew_due(now=membership.current_period_end) == 0

    membership.refresh_from_db()
    assert membership.status == Membership.Status.CANCELED and not membership.is_active
    assert credits.balance(reader) == 1
    assert Order.objects.filter(membership=membership).count() == 1
    assert "not renewed: the demo gateway is off" in caplog.text


def test_cancelling_ends_the_membership_at_the_period_end_and_keeps_the_credits():
    reader = UserFactory()
    membership = join_demo(reader)
    memberships.cancel(user=reader)
    membership.refresh_from_db()
    assert membership.cancel_at_period_end and membership.is_active

    membership_billing.renew_due(now=membership.current_period_end + timedelta(minutes=1))
    membership.refresh_from_db()
    assert membership.status == Membership.Status.CANCELED
    assert credits.balance(reader) == 1
    assert Order.objects.filter(membership=membership).count() == 1
    with pytest.raises(memberships.MembershipError):
        memberships.cancel(user=reader)


def test_unused_membership_credits_roll_over_up_to_the_cap(settings):
    set_monthly(settings, price_cents=1000, credits=3)
    settings.MEMBERSHIP_ROLLOVER_CAP = 4
    reader = UserFactory()
    membership = join_demo(reader)
    membership_billing.renew_due(now=membership.current_period_end)
    # 6 membership credits, cap 4: the two oldest expire; their cash goes to the platform.
    assert credits.balance(reader) == 4
    expired = CreditEntry.objects.get(kind="expired")
    assert expired.credits == -2 and expired.value_cents == -(333 + 333)
    assert (
        LedgerEntry.objects.filter(transaction__kind="expiry", account="platform")
        .get()
        .amount_cents
        == 666
    )
    # Bought credits never expire.
    pack = services.place_pack_order(buyer=reader, credits=1, checkout_token=uuid.uuid4())
    services.mark_paid(order_id=pack.pk, amount_cents=pack.amount_cents)
    assert credits.balance(reader) == 5
    assert audit().ok


def test_the_credits_page_joins_cancels_and_resumes(client):
    reader = UserFactory()
    client.force_login(reader)
    response = client.post(
        reverse("payments:join_membership"),
        {"plan": "annual", "checkout_token": str(uuid.uuid4())},
    )
    order = Order.objects.get(buyer=reader, product="membership")
    assert response.url == reverse("payments:pay_order", args=[order.public_id])
    client.post(response.url, {"card_number": "4242424242424242", "expiry": "12/34", "cvc": "123"})
    html = client.get(reverse("payments:credits")).content.decode()
    assert "Annual" in html and "Next renewal" in html
    assert 'data-testid="credit-balance">12 credits<' in html

    again = client.post(
        reverse("payments:join_membership"),
        {"plan": "monthly", "checkout_token": str(uuid.uuid4())},
    )
    assert again.status_code == 302
    assert Order.objects.filter(buyer=reader, product="membership").count() == 1

    client.post(reverse("payments:cancel_membership"))
    assert "Ends on" in client.get(reverse("payments:credits")).content.decode()
    client.post(reverse("payments:resume_membership"))
    assert not Membership.objects.get(user=reader).cancel_at_period_end
    bad = client.post(
        reverse("payments:join_membership"), {"plan": "weekly", "checkout_token": "x"}, follow=True
    )
    assert "Choose a monthly or an annual membership" in bad.content.decode()


# --- Stripe subscriptions against localstripe ---------------------------------------------


@pytest.fixture
def stripe_plan(stripe_settings, localstripe):
    """A monthly Plan at localstripe, as the settings name it."""
    product = localstripe.api.v1.products.create(params={"name": "Reader Membership"})
    plan = localstripe.api.v1.plans.create(
        params={
            "amount": 1299,
            "currency": "usd",
            "interval": "month",
            "product": product.id,
        }
    )
    set_monthly(stripe_settings, price_cents=1299, credits=1, stripe_price=plan.id)
    return plan


def invoice_event(invoice: dict, event_type="invoice.paid", event_id=None) -> bytes:
    return json.dumps(
        {
            "id": event_id or f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "created": int(time.time()),
            "type": event_type,
            "data": {"object": invoice},
        }
    ).encode()


def latest_invoice(localstripe, membership) -> dict:
    invoices = localstripe.api.v1.invoices.list(params={"customer": membership.customer_reference})
    return invoices.data[0].to_dict()


@pytest.mark.services
def test_a_stripe_subscription_grants_credits_once_per_paid_invoice(
    client, stripe_plan, localstripe
):
    reader = UserFactory()
    membership = membership_billing.start_stripe(
        user=reader, plan_name="monthly", payment_method="pm_card_visa"
    )
    assert membership.subscription_reference.startswith("sub_")
    assert membership.status == Membership.Status.INCOMPLETE  # credits wait for invoice.paid
    assert credits.balance(reader) == 0

    invoice = latest_invoice(localstripe, membership)
    payload = invoice_event(invoice)
    assert post_event(client, payload).status_code == 200
    membership.refresh_from_db()
    assert membership.status == Membership.Status.ACTIVE
    assert credits.balance(reader) == 1
    order = Order.objects.get(membership=membership)
    assert order.gateway_reference == invoice["id"] and order.amount_cents == 1299

    # The same event replayed, and the same invoice under another event id
    # (invoice.payment_succeeded comes with invoice.paid): still one period.
    assert post_event(client, payload).status_code == 200
    again = invoice_event(invoice, "invoice.payment_succeeded")
    assert post_event(client, again).status_code == 200
    assert credits.balance(reader) == 1
    assert Order.objects.filter(membership=membership).count() == 1
    assert audit().ok


@pytest.mark.services
def test_a_stripe_membership_cancels_at_period_end_and_ends_on_deletion(
    client, stripe_plan, localstripe
):
    reader = UserFactory()
    membership = membership_billing.start_stripe(
        user=reader, plan_name="monthly", payment_method="pm_card_visa"
    )
    post_event(client, invoice_event(latest_invoice(localstripe, membership)))

    memberships.cancel(user=reader)
    subscription = localstripe.api.v1.subscriptions.retrieve(membership.subscription_reference)
    assert subscription.cancel_at_period_end is True

    localstripe.api.v1.subscriptions.cancel(membership.subscription_reference)
    deleted = invoice_event(subscription.to_dict(), "customer.subscription.deleted")
    assert post_event(client, deleted).status_code == 200
    membership.refresh_from_db()
    assert membership.status == Membership.Status.CANCELED and membership.ended_at
    assert credits.balance(reader) == 1  # the credits stay


def test_a_failed_renewal_asks_the_reader_once_per_period(
    mailoutbox, django_capture_on_commit_callbacks
):
    reader = UserFactory(email="member@example.com")
    period_end = timezone.now() + timedelta(days=3)
    membership = Membership.objects.create(
        user=reader,
        plan="monthly",
        status=Membership.Status.ACTIVE,
        gateway="stripe",
        subscription_reference="sub_123",
        current_period_end=period_end,
    )
    state = SubscriptionState("sub_123", "past_due", False, period_end)

    with django_capture_on_commit_callbacks(execute=True):
        memberships.stripe_subscription_changed(state)
        memberships.stripe_subscription_changed(state)  # Stripe says it again
        memberships.stripe_subscription_changed(
            SubscriptionState("sub_123", "unpaid", False, period_end)
        )

    membership.refresh_from_db()
    assert membership.status == Membership.Status.PAST_DUE
    assert [m.to for m in mailoutbox] == [["member@example.com"]]
    assert "did not go through" in mailoutbox[0].subject
    assert "/credits/" in mailoutbox[0].body and "stay yours" in mailoutbox[0].body


@pytest.mark.services
def test_a_declined_card_starts_no_membership(stripe_plan):
    reader = UserFactory()
    with pytest.raises(memberships.MembershipError):
        membership_billing.start_stripe(
            user=reader, plan_name="monthly", payment_method="pm_card_visa_chargeDeclined"
        )
    assert credits.balance(reader) == 0
    assert not Order.objects.filter(buyer=reader).exists()
    assert not Membership.objects.get(user=reader).is_active


def test_a_forged_invoice_event_is_refused_and_grants_nothing(client, stripe_settings):
    payload = invoice_event({"id": "in_forged", "subscription": "sub_x", "amount_paid": 1299})
    assert (
        post_event(client, payload, header=signature(payload, secret="whsec_wrong")).status_code
        == 400
    )
    assert CreditEntry.objects.count() == 0
