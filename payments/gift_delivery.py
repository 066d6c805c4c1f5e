"""Delivering a paid gift: the claim e-mail, at most once per send, on its day.

A gift is delivered by ``deliver`` — a conditional, locked move scheduled -> sent
once its day has come — from a Celery task queued for its day (``tasks.deliver_gift``,
after the payment commits) and from a periodic sweep (``tasks.deliver_due_gifts``,
beat) that catches whatever a lost task, a restarted worker or a day too far for the
broker's visibility timeout left behind. Whoever gets there first moves the row;
the other finds it sent and does nothing. The e-mail goes through the outbox keyed
by the gift and its send number, so a retried task never sends it twice.

Lower than ``gifts`` (buying, claiming, the buyer's changes): ``cart_payments`` calls
``payment_paid`` when a gift's payment comes in, without importing the buyer's side.
"""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from core.mail import queue_templated_email

from .models import Gift, Payment

# A queued task later than this would outlive the broker's visibility timeout (Redis
# hands it out again): such gifts wait for the sweep instead.
TASK_HORIZON = timedelta(minutes=50)


def payment_paid(payment: Payment) -> list[Gift]:
    """The payment of gifts came in (inside its locked transaction): each gift is
    scheduled, and its buyer gets a gift receipt. Returns the gifts, to queue their
    delivery after commit. A replay finds them scheduled already: nothing twice."""
    gifts = list(
        Gift.objects.select_for_update(of=("self",))
        .filter(payment=payment, status=Gift.Status.PENDING)
        .select_related("buyer")
    )
    for gift in gifts:
        if not gift.orders.filter(status="paid").exists():
            gift.status = Gift.Status.FAILED  # every order a duplicate or failed
            gift.save(update_fields=["status"])
            continue
        gift.status = Gift.Status.SCHEDULED
        gift.save(update_fields=["status"])
        queue_templated_email(
            key=f"gift-receipt:gift-{gift.pk}",
            to=gift.buyer.email,
            template="email/gift_receipt",
            context={
                "gift": gift,
                "orders": list(gift.orders.select_related("book").order_by("pk")),
                "gift_url": settings.SITE_URL + gift.get_absolute_url(),
            },
        )
    return [gift for gift in gifts if gift.status == Gift.Status.SCHEDULED]


def countdown_for(gift: Gift, *, now=None) -> float | None:
    """Seconds until the gift's day for a queued task, or None: too far, the sweep delivers."""
    wait = (gift.deliver_at - (now or timezone.now())).total_seconds()
    if wait <= 0 or wait > TASK_HORIZON.total_seconds():  # delivered already / the sweep's
        return None
    return max(0.0, wait)


def deliver(gift_id: int, *, now=None) -> bool:
    """Send the gift's claim e-mail if its day has come and it was not sent yet.
    True if this call delivered it. Safe to run any number of times, anywhere."""
    now = now or timezone.now()
    with transaction.atomic():
        gift = (
            Gift.objects.select_for_update(of=("self",))
            .select_related("buyer")
            .filter(pk=gift_id, status=Gift.Status.SCHEDULED, deliver_at__lte=now)
            .first()
        )
        if gift is None:
            return False  # sent, claimed, refunded, not paid, or not its day yet
        gift.status = Gift.Status.SENT
        gift.sent_at = now
        gift.save(update_fields=["status", "sent_at"])
        send_claim_email(gift)
    return True


def due_gift_ids(*, now=None) -> list[int]:
    return list(
        Gift.objects.filter(
            status=Gift.Status.SCHEDULED, deliver_at__lte=now or timezone.now()
        ).values_list("pk", flat=True)[:500]
    )


def send_claim_email(gift: Gift) -> None:
    """The claim e-mail to the gift's address, once per send number (the caller holds
    the gift's lock). What was paid is never in it."""
    gift.sends += 1
    gift.save(update_fields=["sends"])
    queue_templated_email(
        key=f"gift-claim:gift-{gift.pk}:{gift.sends}",
        to=gift.recipient_email,
        template="email/gift_claim",
        context={
            "gift": gift,
            "giver": gift.buyer.get_full_name() or gift.buyer.email,
            "claim_url": settings.SITE_URL
            + reverse("payments:gift_claim", kwargs={"token": gift.claim_token}),
        },
    )
