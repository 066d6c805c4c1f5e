"""Transactional e-mail through the outbox: render now, send from Celery, exactly once.

The queuing side; the sending side (claim, send, give up) is ``outbox``, which the
sending task uses: mail -> tasks -> outbox, no cycle."""

import logging
import uuid

from django.conf import settings
from django.db import transaction
from django.template import Context
from django.template.loader import get_template, render_to_string

from .inserts import insert_once
from .models import EmailDelivery
from .outbox import plain_subject
from .tasks import deliver_email

log = logging.getLogger(__name__)


def render_email(template_prefix: str, context: dict) -> tuple[str, str, str]:
    """(subject, text, html) from ``<prefix>_subject.txt``, ``.txt`` and ``.html``.
    The subject is rendered without HTML escaping: "Netflix's", not "Netflix&#x27;s"."""
    context = {"STORE_NAME": settings.STORE_NAME, "SITE_URL": settings.SITE_URL, **context}
    subject_template = get_template(f"{template_prefix}_subject.txt").template
    subject = plain_subject(subject_template.render(Context(context, autoescape=False)))
    text = render_to_string(f"{template_prefix}.txt", context)
    html = render_to_string(f"{template_prefix}.html", context)
    return subject, text, html


def queue_email(
    *,
    key: str | None,
    to: str,
    subject: str,
    body: str,
    html: str = "",
    headers=None,
    attachments=None,
):
    """Put one e-mail in the outbox (once per ``key``) and send it after commit.
    ``attachments``: entries made by ``outbox.attachment``."""
    delivery = EmailDelivery(
        key=key or f"adhoc:{uuid.uuid4().hex}",
        to=to,
        subject=plain_subject(subject),
        body=body,
        html=html,
        headers=headers or {},
        attachments=attachments or [],
    )
    # One statement, no savepoint: this runs inside every sale's transaction.
    if not insert_once(delivery):
        return EmailDelivery.objects.get(key=delivery.key), False
    # robust: a broker hiccup after commit must not turn a paid order into a 500;
    # the row stays queued and requeue_stuck_emails sends it.
    transaction.on_commit(lambda: deliver_email.delay(delivery.pk), robust=True)
    return delivery, True


def queue_templated_email(
    *, key: str, to: str, template: str, context: dict, headers=None, attachments=None
):
    subject, body, html = render_email(template, context)
    return queue_email(
        key=key,
        to=to,
        subject=subject,
        body=body,
        html=html,
        headers=headers,
        attachments=attachments,
    )
