"""Cross-cutting Celery tasks."""

import smtplib

from celery import shared_task

from . import mail


class TransientEmailError(Exception):
    pass


@shared_task(bind=True, acks_late=True, max_retries=8)
def deliver_email(self, delivery_id: int):
    """Send one outbox e-mail exactly once; SMTP failures retry with backoff."""
    delivery = mail.claim(delivery_id)
    if delivery is None:
        return "skipped"  # sent already, or another worker is sending it
    try:
        mail.send_claimed(delivery)
    except (smtplib.SMTPException, OSError) as exc:
        if self.request.retries >= self.max_retries:
            mail.give_up(delivery_id, str(exc))
            raise
        raise self.retry(exc=exc, countdown=min(600, 2 ** (self.request.retries + 2))) from exc
    return "sent"
