"""Celery tasks: send one delivery; sweep the due ones (beat, every minute)."""

import logging

from celery import shared_task
from django.utils import timezone

from . import delivery

log = logging.getLogger(__name__)

# A retry due sooner than this is queued with a countdown; later ones wait for the
# sweep, so no countdown outlives the broker's visibility timeout (a Redis
# message held that long is handed to a second worker).
COUNTDOWN_LIMIT_SECONDS = 600


@shared_task(bind=True, acks_late=True)
def send_delivery(self, delivery_id: int):
    """One attempt of one delivery, if it is due; a replay finds nothing due."""
    attempt = delivery.send(delivery_id, by=self.request.id or "")
    if attempt is None:
        return "skipped"
    if attempt.succeeded:
        return "delivered"
    row = attempt.delivery
    if row.next_attempt_at is not None and not self.request.is_eager:
        wait = (row.next_attempt_at - timezone.now()).total_seconds()
        if wait < COUNTDOWN_LIMIT_SECONDS:
            send_delivery.apply_async((delivery_id,), countdown=max(wait, 0))
    return "failed"


@shared_task(acks_late=True)
def send_due_webhooks():
    """Send every due delivery (retries, and all deliveries when Celery is eager)."""
    due = delivery.due_delivery_ids()
    for delivery_id in due:
        send_delivery.delay(delivery_id)
    return len(due)
