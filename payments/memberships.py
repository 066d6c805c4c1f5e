"""The Reader Membership: a monthly or annual plan that grants credits each period.

Every paid period is an Order (product "membership") paid like any other, so
mark_paid turns it into a credit lot, a ledger transaction and a receipt, once.

- demo gateway: the first period is paid on the demo card page; afterwards
  ``renew_due()`` (Celery beat, ``manage.py renew_memberships``) charges the
  saved demo card at each period's end, one order per period (its checkout token
  is derived from the membership and the period, so a rerun adds nothing).
- stripe: a Stripe Subscription. Each ``invoice.paid`` becomes the period's
  order (the invoice id is its gateway reference: a replayed event finds it);
  ``customer.subscription.deleted`` ends the membership.

Cancelling stops renewal at the end of the period already paid; credits stay.
"""

import calendar
import logging
import uuid
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.mail import queue_templated_email

from .gateways import GatewayError, get_gateway
from .models import Membership, Order

log = logging.getLogger(__name__)

PERIOD_NAMESPACE = uuid.UUID("6f1c7a52-2b8e-4c1e-9a57-5d0e8f3b9c11")


class MembershipError(Exception):
    """Why the membership cannot change; fit to show."""


def plan(name: str) -> dict:
    try:
        return settings.MEMBERSHIP_PLANS[name]
    except KeyError as exc:
        raise MembershipError("There is no such plan.") from exc


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time ``months`` later (the 31st becomes the month's last day)."""
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def membership_of(user) -> Membership | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return Membership.objects.filter(user=user).first()


def period_paid(order: Order) -> None:
    """In mark_paid's transaction: a period's order is paid, so the membership is on.
    Local memberships move their period end here; Stripe's come from the invoice."""
    membership = Membership.objects.select_for_update().get(pk=order.membership_id)
    membership.status = Membership.Status.ACTIVE
    if membership.gateway != "stripe":
        # A renewal continues from the last period's end, even when it runs late.
        start_at = membership.current_period_end or order.paid_at
        membership.current_period_end = add_months(start_at, plan(membership.plan)["months"])
    membership.save(update_fields=["status", "current_period_end"])


def cancel(*, user) -> Membership:
    """Stop renewing at the end of the paid period (the credits stay)."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(user=user).first()
        if membership is None or not membership.is_active:
            raise MembershipError("You have no membership to cancel.")
        if membership.cancel_at_period_end:
            return membership
        if membership.gateway == "stripe":
            try:
                get_gateway("stripe").set_cancel_at_period_end(
                    membership.subscription_reference, True
                )
            except GatewayError as exc:
                raise MembershipError(str(exc)) from exc
        membership.cancel_at_period_end = True
        membership.save(update_fields=["cancel_at_period_end"])
    return membership


def resume(*, user) -> Membership:
    """Undo a cancellation before the period ends."""
    with transaction.atomic():
        membership = Membership.objects.select_for_update().filter(user=user).first()
        if membership is None or not membership.is_active or not membership.cancel_at_period_end:
            raise MembershipError("There is no cancellation to undo.")
        if membership.gateway == "stripe":
            try:
                get_gateway("stripe").set_cancel_at_period_end(
                    membership.subscription_reference, False
                )
            except GatewayError as exc:
                raise MembershipError(str(exc)) from exc
        membership.cancel_at_period_end = False
        membership.save(update_fields=["cancel_at_period_end"])
    return membership


def stripe_subscription_changed(subscription) -> str:
    """customer.subscription.updated / .deleted, re-read from Stripe."""
    with transaction.atomic():
        membership = (
            Membership.objects.select_for_update()
            .filter(gateway="stripe", subscription_reference=subscription.reference)
            .first()
        )
        if membership is None:
            return "ignored: no membership for this subscription"
        membership.cancel_at_period_end = subscription.cancel_at_period_end
        if subscription.current_period_end:
            membership.current_period_end = subscription.current_period_end
        if subscription.status == "canceled":
            membership.status = Membership.Status.CANCELED
            membership.ended_at = membership.ended_at or timezone.now()
        elif subscription.status in ("past_due", "unpaid"):
            if membership.status != Membership.Status.PAST_DUE:
                _tell_payment_failed(membership)
            membership.status = Membership.Status.PAST_DUE
        elif subscription.status == "active" and membership.status != Membership.Status.CANCELED:
            membership.status = Membership.Status.ACTIVE
        membership.save()
    return f"membership {membership.get_status_display().lower()}"


def _tell_payment_failed(membership: Membership) -> None:
    """The renewal's payment failed at the gateway (which retries it): ask the reader
    to update their card. Once per period, however many events say so."""
    period = membership.current_period_end.date() if membership.current_period_end else "none"
    queue_templated_email(
        key=f"membership-past-due:{membership.pk}:{period}",
        to=membership.user.email,
        template="email/membership_past_due",
        context={"membership": membership, "user": membership.user},
    )
