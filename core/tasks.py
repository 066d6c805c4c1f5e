"""Cross-cutting Celery tasks: the e-mail outbox's sender and its sweeper."""

import logging
import smtplib
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from . import outbox
from .models import EmailDelivery

log = logging.getLogger(__name__)

# Seconds before the first retry; each next one waits twice as long (4, 8, 16, ...).
MAX_RETRY_SECONDS = 600


def retry_countdown(retries: int) -> float:
    """How long to wait before retry number ``retries + 1`` of an e-mail.

    ``EMAIL_RETRY_BASE_SECONDS`` scales the backoff: tests running a real worker
    set it to a fraction of a second. Production: 4 s, 8 s, 16 s, ... capped at 10 minutes.
    """
    return min(MAX_RETRY_SECONDS, settings.EMAIL_RETRY_BASE_SECONDS * 2**retries)


def is_permanent(exc: Exception) -> bool:
    """A 5xx answer (no such mailbox, refused) will not change on retry."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in exc.recipients.values())
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code >= 500


@shared_task(bind=True, acks_late=True, max_retries=8)
def deliver_email(self, delivery_id: int):
    """Send one outbox e-mail exactly once; temporary SMTP failures retry with backoff."""
    delivery = outbox.claim(delivery_id, by=self.request.id or "")
    if delivery is None:
        return "skipped"  # sent already, or another task is sending it
    try:
        outbox.send_claimed(delivery)
    except outbox.AttachmentMissing as exc:
        outbox.give_up(delivery_id, str(exc))
        return "failed"
    except (smtplib.SMTPException, OSError) as exc:
        if is_permanent(exc) or self.request.retries >= self.max_retries:
            outbox.give_up(delivery_id, str(exc))
            return "failed"
        if self.request.is_eager:
            # No worker to retry later (make run): the row stays queued, its claim
            # released, and requeue_stuck_emails sends it. Never fail the request.
            log.warning("e-mail %s deferred: %s", delivery_id, exc)
            return "deferred"
        raise self.retry(exc=exc, countdown=retry_countdown(self.request.retries)) from exc
    # The key names the e-mail ("receipt:order-12"), never the address.
    log.info("e-mail %s sent: %s", delivery_id, delivery.key)
    return "sent"


@shared_task(acks_late=True)
def requeue_stuck_emails(older_than_minutes: int = 10) -> int:
    """Celery beat: hand queued e-mails nobody is sending (lost task message, dead
    worker, deferred in eager mode) to the sender again. Claims keep it exactly once."""
    cutoff = timezone.now() - timedelta(minutes=older_than_minutes)
    stuck = EmailDelivery.objects.filter(
        Q(claimed_at__isnull=True) | Q(claimed_at__lt=timezone.now() - outbox.CLAIM_TIMEOUT),
        status=EmailDelivery.Status.QUEUED,
        created_at__lt=cutoff,
    ).values_list("pk", flat=True)[:5000]
    ids = list(stuck)
    for delivery_id in ids:
        deliver_email.delay(delivery_id)
    return len(ids)
