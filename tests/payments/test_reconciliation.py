"""The daily reconciliation: our captures and refunds against the gateway's, line by
line. Stripe's side is a localstripe of each test's own, so the day at the gateway
holds exactly what the test did there."""

import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from payments import reconciliation, services
from payments.gateways import stripe as stripe_gateway
from payments.gateways.base import Movement
from payments.models import Order
from payments.tasks import reconcile_gateways
from storefront.celery import app
from tests.factories import BookFactory, UserFactory
from tests.payments.conftest import (
    PUBLISHABLE_KEY,
    SECRET_KEY,
    WEBHOOK_SECRET,
    event_payload,
    post_event,
    running_localstripe,
    stripe_order,
)
from tests.payments.test_stripe_refunds import charge_of, refund_event

pytestmark = pytest.mark.django_db


def today() -> str:
    """The UTC day the test's payments are in, read when the test runs (read at import,
    it was the day the workers collected the suite)."""
    return timezone.now().astimezone(UTC).date().isoformat()


@pytest.fixture
def own_stripe(settings, tmp_path):
    """A fresh localstripe for this test, and Stripe settings pointing at it."""
    with running_localstripe(tmp_path) as server:
        settings.PAYMENT_GATEWAY = "stripe"
        settings.STRIPE_API_BASE = server.url
        settings.STRIPE_SECRET_KEY = SECRET_KEY
        settings.STRIPE_PUBLISHABLE_KEY = PUBLISHABLE_KEY
        settings.STRIPE_WEBHOOK_SECRET = WEBHOOK_SECRET
        yield server


def paid_by_stripe(client, localstripe, amount_cents) -> Order:
    """An order paid by card at localstripe and fulfilled by the signed webhook."""
    order = stripe_order(UserFactory(), BookFactory(minimum_price_cents=99), amount_cents)
    intent = localstripe.confirm(order.gateway_reference, "pm_card_visa")
    assert post_event(client, event_payload(intent)).content == b"order paid"
    return Order.objects.get(pk=order.pk)


def paid_locally(settings, amount_cents, gateway="demo", reference="") -> Order:
    settings.PAYMENT_GATEWAY, before = gateway, settings.PAYMENT_GATEWAY
    order = services.place_order(
        buyer=UserFactory(),
        book=BookFactory(minimum_price_cents=min(amount_cents, 99), suggested_price_cents=999),
        amount_cents=amount_cents,
        checkout_token=uuid.uuid4(),
    )
    settings.PAYMENT_GATEWAY = before
    if reference:
        Order.objects.filter(pk=order.pk).update(gateway_reference=reference)
    if amount_cents:  # a free copy is fulfilled as it is placed
        assert services.mark_paid(order_id=order.pk, amount_cents=amount_cents)
    return Order.objects.get(pk=order.pk)


@pytest.mark.services
def test_a_clean_day_reports_no_difference(client, settings, own_stripe, monkeypatch, capsys):
    monkeypatch.setattr(stripe_gateway, "PAGE_SIZE", 1)  # every listing takes several pages
    paid_by_stripe(client, own_stripe, 1950)
    refunded = paid_by_stripe(client, own_stripe, 2500)
    own_stripe.api.v1.refunds.create(params={"payment_intent": refunded.gateway_reference})
    charge = charge_of(own_stripe, refunded)
    assert post_event(client, refund_event(charge)).content == b"order refunded"
    paid_locally(settings, 999, gateway="demo")
    paid_locally(settings, 0)  # a free copy moves no money: no gateway to ask

    day = today()
    call_command("reconcile_gateway", "--date", day)

    captured = capsys.readouterr()
    assert captured.err == ""
    assert f"{day} (UTC):" in captured.out
    assert (
        "  stripe: here captured $44.50 (2), refunded $25.00 (1); "
        "at the gateway captured $44.50 (2), refunded $25.00 (1)"
    ) in captured.out
    assert (
        "  demo: here captured $9.99 (1), refunded $0.00 (0); no outside side to compare"
    ) in captured.out
    assert "free" not in captured.out
    assert "No differences." in captured.out


@pytest.mark.services
def test_captures_we_do_not_know_and_amounts_that_differ_are_reported_line_by_line(
    client, settings, own_stripe, capsys
):
    known = paid_by_stripe(client, own_stripe, 1950)
    Order.objects.filter(pk=known.pk).update(amount_cents=2500)  # our books say otherwise
    stranger = own_stripe.api.v1.payment_intents.create(
        params={"amount": 700, "currency": "usd", "payment_method_types": ["card"]}
    )
    own_stripe.confirm(stranger.id, "pm_card_visa")
    # Captured at another amount than the order's: never fulfilled, so not booked here.
    refused = stripe_order(UserFactory(), BookFactory(minimum_price_cents=99), 1950)
    own_stripe.api.v1.payment_intents.update(refused.gateway_reference, params={"amount": 1500})
    intent = own_stripe.confirm(refused.gateway_reference, "pm_card_visa")
    assert post_event(client, event_payload(intent)).content == b"no change"
    ghost = paid_locally(settings, 1200, gateway="stripe", reference="pi_ghost")

    with pytest.raises(CommandError, match="4 difference"):
        call_command("reconcile_gateway", "--date", today())

    lines = capsys.readouterr().err.strip().splitlines()
    assert sorted(line.strip() for line in lines) == sorted(
        [
            f"capture {known.gateway_reference}: amount differs "
            f"(here $25.00; at the gateway $19.50; order {known.pk}; "
            f"{charge_of(own_stripe, known).id})",
            f"capture {stranger.id}: missing here "
            f"(at the gateway $7.00; {charge_of_intent(own_stripe, stranger.id)})",
            f"capture {refused.gateway_reference}: missing here "
            f"(at the gateway $15.00; {charge_of(own_stripe, refused).id}; "
            f"order {refused.pk} is pending: Captured 1500¢ but the order is for 1950¢.)",
            f"capture pi_ghost: missing at the gateway (here $12.00; order {ghost.pk})",
        ]
    )


def charge_of_intent(localstripe, intent_id) -> str:
    charge = localstripe.api.v1.payment_intents.retrieve(intent_id).latest_charge
    return charge if isinstance(charge, str) else charge.id


@pytest.mark.services
def test_the_daily_task_checks_yesterday_and_logs_each_difference(settings, own_stripe, caplog):
    ghost = paid_locally(settings, 1200, gateway="stripe", reference="pi_ghost")
    yesterday = timezone.now() - timedelta(days=1)
    Order.objects.filter(pk=ghost.pk).update(paid_at=yesterday)

    with caplog.at_level(logging.ERROR, logger="payments.tasks"):
        assert reconcile_gateways.delay().get() == 1

    assert [r.getMessage() for r in caplog.records] == [
        f"reconciliation of {yesterday.astimezone(UTC).date()}: capture pi_ghost: "
        f"missing at the gateway (here $12.00; order {ghost.pk})"
    ]
    schedule = settings.CELERY_BEAT_SCHEDULE["reconcile-gateways"]
    assert schedule["task"] == "payments.tasks.reconcile_gateways"
    assert schedule["task"] in app.tasks
    assert schedule["schedule"].hour == {2}


def test_the_demo_gateway_is_reported_from_our_side_alone(settings, capsys):
    settings.STRIPE_SECRET_KEY = ""
    order = paid_locally(settings, 999, gateway="demo")
    today = timezone.now().astimezone(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    Order.objects.filter(pk=order.pk).update(paid_at=today - timedelta(days=1))
    two_days_ago = (today - timedelta(days=2)).date()

    call_command("reconcile_gateway", "--since", two_days_ago.isoformat())

    out = capsys.readouterr().out
    assert out == (
        f"{two_days_ago} (UTC):\n  no payments through any gateway\n"
        f"{two_days_ago + timedelta(days=1)} (UTC):\n"
        "  demo: here captured $9.99 (1), refunded $0.00 (0); no outside side to compare\n"
        "No differences.\n"
    )  # and not today, which is not over


def test_a_payment_booked_just_after_midnight_matches_its_capture_just_before():
    midnight = datetime(2026, 11, 25, tzinfo=UTC)
    day = (midnight, midnight + timedelta(days=1))
    ours = [Movement("capture", "pi_1", 1950, "USD", midnight + timedelta(seconds=2))]
    theirs = [Movement("capture", "pi_1", 1950, "USD", midnight - timedelta(seconds=2))]
    late = [Movement("capture", "pi_1", 1900, "USD", midnight - timedelta(seconds=2))]

    assert reconciliation._compare("capture", ours, theirs, *day) == []
    assert reconciliation._compare("capture", [], theirs, *day) == []  # the day before's line
    assert [d.problem for d in reconciliation._compare("capture", ours, late, *day)] == [
        "amount differs"
    ]
