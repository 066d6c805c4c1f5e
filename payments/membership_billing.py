"""Paying for the Reader Membership: joining, each period's order, renewals.

Above ``memberships`` (the plan and its state) and ``services`` (orders and
their fulfilment): each period is an order that ``mark_paid`` turns into
credits, once. See memberships.py for the gateways' two ways of renewing.
"""

import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.reader_pages import forget_reader

from .gateways import GatewayError, demo_gateway_allowed, get_gateway
from .memberships import PERIOD_NAMESPACE, MembershipError, plan
from .models import Membership, Order
from .services import mark_paid, place_credits_order

log = logging.getLogger(__name__)


def _period_order(membership: Membership, *, token: uuid.UUID, reference="", gateway=None):
    terms = plan(membership.plan)
    order = place_credits_order(
        buyer=membership.user,
        product=Order.Product.MEMBERSHIP,
        credits=terms["credits"],
        amount_cents=terms["price_cents"],
        checkout_token=token,
        membership=membership,
        gateway=gateway or membership.gateway,
    )
    if reference and not order.gateway_reference:
        Order.objects.filter(pk=order.pk, gateway_reference="").update(gateway_reference=reference)
        order.refresh_from_db()
    return order


def pays_by_subscription() -> bool:
    """Whether joining goes through a saved card and a provider's subscription (Stripe)
    rather than a first period paid on our payment page (the demo gateway)."""
    return settings.PAYMENT_GATEWAY == "stripe"


def start(*, user, plan_name: str, checkout_token: uuid.UUID) -> Order:
    """Join (demo gateway): the membership waits for its first period's order to be paid."""
    plan(plan_name)
    membership = _begin(user, plan_name, settings.PAYMENT_GATEWAY)
    return _period_order(membership, token=checkout_token)


def _begin(user, plan_name: str, gateway: str) -> Membership:
    """The reader's membership row, (re)set to wait for its first paid period."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(user=user).first()
        if membership is not None and membership.is_active:
            raise MembershipError("You are a member already.")
        membership = membership or Membership(user=user)
        membership.plan, membership.gateway = plan_name, gateway
        membership.status = Membership.Status.INCOMPLETE
        membership.cancel_at_period_end, membership.ended_at = False, None
        membership.current_period_end = None
        membership.save()
    return membership


def renew_due(*, now=None) -> int:
    """Local (demo) memberships whose period ended: renew, or end if cancelled (or
    if the demo gateway is not allowed here: see ``demo_gateway_allowed``)."""
    now = now or timezone.now()
    renewed = 0
    due = Membership.objects.filter(
        status=Membership.Status.ACTIVE, current_period_end__lte=now
    ).exclude(gateway="stripe")
    for membership_id in due.values_list("pk", flat=True):
        with transaction.atomic():
            membership = (
                Membership.objects.select_for_update().select_related("user").get(pk=membership_id)
            )
            end = membership.current_period_end
            if membership.status != Membership.Status.ACTIVE or end is None or end > now:
                continue
            if membership.cancel_at_period_end:
                membership.status = Membership.Status.CANCELED
                membership.ended_at = end
                membership.save(update_fields=["status", "ended_at"])
                continue
            if not demo_gateway_allowed():
                # Renewing here would grant credits for nothing (no card was charged):
                # outside a demo store the membership ends with its paid period.
                log.error("demo membership %s not renewed: the demo gateway is off", membership.pk)
                membership.status = Membership.Status.CANCELED
                membership.ended_at = end
                membership.save(update_fields=["status", "ended_at"])
                continue
            token = uuid.uuid5(PERIOD_NAMESPACE, f"{membership.pk}:{end.isoformat()}")
            order = _period_order(membership, token=token, reference=f"demo_renewal_{token}")
            # The demo gateway "charges the saved card": the same path a payment takes.
            if mark_paid(
                order_id=order.pk,
                amount_cents=order.amount_cents,
                reference=order.gateway_reference,
            ):
                renewed += 1
    return renewed


# --- Stripe ---------------------------------------------------------------------------


def start_stripe(*, user, plan_name: str, payment_method: str) -> Membership:
    """Join with Stripe: a customer, then a subscription charged to ``payment_method``
    (collected by the Payment Element in setup mode). Credits arrive with invoice.paid."""
    terms = plan(plan_name)
    if not terms["stripe_price"]:
        raise MembershipError("This plan is not on sale right now.")
    membership = _begin(user, plan_name, "stripe")
    gateway = get_gateway("stripe")
    try:
        if not membership.customer_reference:
            customer = gateway.create_customer(email=user.email, user_id=user.pk)
            Membership.objects.filter(pk=membership.pk, customer_reference="").update(
                customer_reference=customer
            )
            membership.refresh_from_db()
        subscription = gateway.create_subscription(
            customer=membership.customer_reference,
            price=terms["stripe_price"],
            payment_method=payment_method,
            idempotency_key=f"membership-{membership.pk}-{plan_name}-{payment_method}",
            metadata={"membership_id": str(membership.pk), "plan": plan_name},
        )
    except GatewayError as exc:
        raise MembershipError(str(exc)) from exc
    Membership.objects.filter(pk=membership.pk).update(
        subscription_reference=subscription.reference,
        current_period_end=subscription.current_period_end,
    )
    forget_reader(membership.user_id)  # update() sends no signal
    membership.refresh_from_db()
    return membership


def stripe_invoice_paid(invoice) -> str:
    """A paid Stripe invoice of a subscription becomes that period's order, once."""
    membership = Membership.objects.filter(
        gateway="stripe", subscription_reference=invoice.subscription
    ).first()
    if membership is None:
        return "ignored: no membership for this subscription"
    token = uuid.uuid5(PERIOD_NAMESPACE, f"stripe-invoice:{invoice.reference}")
    order = _period_order(membership, token=token, reference=invoice.reference, gateway="stripe")
    if invoice.amount_cents != order.amount_cents:
        # The plan's price changed at Stripe: book what was really paid.
        Order.objects.filter(pk=order.pk, status=Order.Status.PENDING).update(
            amount_cents=invoice.amount_cents
        )
    changed = mark_paid(
        order_id=order.pk, amount_cents=invoice.amount_cents, reference=invoice.reference
    )
    Membership.objects.filter(pk=membership.pk).update(
        current_period_end=invoice.period_end or membership.current_period_end
    )
    forget_reader(membership.user_id)  # update() sends no signal
    return "membership period paid" if changed else "no change"
