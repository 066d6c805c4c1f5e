"""Transactional e-mail through the outbox: render now, send from Celery, exactly once."""

import logging
import uuid
from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db import transaction
from django.db.models import F, Q
from django.template import Context
from django.template.loader import get_template, render_to_string
from django.utils import timezone

from .models import EmailDelivery

log = logging.getLogger(__name__)

# A claim older than this belongs to a worker that died mid-send: take it over.
CLAIM_TIMEOUT = timedelta(minutes=10)


def plain_subject(text: str) -> str:
    """A subject is one line of plain text: every run of whitespace, line breaks
    included, becomes one space (a CR/LF would make the mail library refuse the
    header with BadHeaderError; a title may hold one if it bypassed the forms)."""
    return " ".join(str(text).split())[:300]


def render_email(template_prefix: str, context: dict) -> tuple[str, str, str]:
    """(subject, text, html) from ``<prefix>_subject.txt``, ``.txt`` and ``.html``.
    The subject is rendered without HTML escaping: "Netflix's", not "Netflix&#x27;s"."""
    context = {"STORE_NAME": settings.STORE_NAME, "SITE_URL": settings.SITE_URL, **context}
    subject_template = get_template(f"{template_prefix}_subject.txt").template
    subject = plain_subject(subject_template.render(Context(context, autoescape=False)))
    text = render_to_string(f"{template_prefix}.txt", context)
    html = render_to_string(f"{template_prefix}.html", context)
    return subject, text, html


def queue_email(*, key: str | None, to: str, subject: str, body: str, html: str = "", headers=None):
    """Put one e-mail in the outbox (once per ``key``) and send it after commit."""
    delivery, created = EmailDelivery.objects.get_or_create(
        key=key or f"adhoc:{uuid.uuid4().hex}",
        defaults={
            "to": to,
            "subject": plain_subject(subject),
            "body": body,
            "html": html,
            "headers": headers or {},
        },
    )
    if created:
        from .tasks import deliver_email

        # robust: a broker hiccup after commit must not turn a paid order into a 500;
        # the row stays queued and requeue_stuck_emails sends it.
        transaction.on_commit(lambda: deliver_email.delay(delivery.pk), robust=True)
    return delivery, created


def queue_templated_email(*, key: str, to: str, template: str, context: dict, headers=None):
    subject, body, html = render_email(template, context)
    return queue_email(key=key, to=to, subject=subject, body=body, html=html, headers=headers)


def claim(delivery_id: int, by: str = "") -> EmailDelivery | None:
    """Claim a queued delivery for sending, or None if sent or being sent elsewhere.

    ``by`` names the claimant: the Celery task's id. With acks_late the broker hands
    a task to another worker only once the worker running it died (or, on Redis, the
    task outlived the visibility timeout), so the same task finding its own claim
    takes it over at once; another task must wait for CLAIM_TIMEOUT.
    """
    now = timezone.now()
    free = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT)
    if by:
        free |= Q(claimed_by=by)
    claimed = EmailDelivery.objects.filter(
        free, pk=delivery_id, status=EmailDelivery.Status.QUEUED
    ).update(claimed_at=now, claimed_by=by, attempts=F("attempts") + 1)
    return EmailDelivery.objects.get(pk=delivery_id) if claimed else None


def send_claimed(delivery: EmailDelivery) -> None:
    """Send a claimed delivery; on failure release the claim so a retry can send it.

    Marked sent as soon as the server accepted the message, before QUIT: a worker
    dying between the server's 250 and that UPDATE is the one way a message goes
    out twice (at least once, never lost), and a slow goodbye must not widen it.
    """
    connection = get_connection()
    message = EmailMultiAlternatives(
        plain_subject(delivery.subject),  # rows written before subjects were one line
        delivery.body,
        settings.DEFAULT_FROM_EMAIL,
        [delivery.to],
        headers=delivery.headers,
        connection=connection,
    )
    if delivery.html:
        message.attach_alternative(delivery.html, "text/html")
    try:
        connection.open()  # held open by us: send() does not QUIT
        message.send()
    except Exception as exc:
        EmailDelivery.objects.filter(pk=delivery.pk).update(
            claimed_at=None, last_error=str(exc)[:2000]
        )
        _close_quietly(connection)
        raise
    EmailDelivery.objects.filter(pk=delivery.pk).update(
        status=EmailDelivery.Status.SENT, sent_at=timezone.now(), last_error=""
    )
    _close_quietly(connection)


def _close_quietly(connection) -> None:
    """QUIT; the message's fate is known already, so a failing goodbye changes nothing."""
    try:
        connection.close()
    except Exception:
        log.warning("e-mail connection did not close cleanly", exc_info=True)


def give_up(delivery_id: int, error: str) -> None:
    EmailDelivery.objects.filter(pk=delivery_id, status=EmailDelivery.Status.QUEUED).update(
        status=EmailDelivery.Status.FAILED, last_error=error[:2000], claimed_at=None
    )
