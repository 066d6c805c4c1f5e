"""The outbox's sending side: claim a queued e-mail, send it, or give up on it.

Called by ``tasks.deliver_email``; ``mail`` is the queuing side."""

import base64
import logging
from datetime import timedelta

from django.conf import settings
from django.core.files.storage import storages
from django.core.mail import EmailMultiAlternatives, get_connection
from django.db.models import F, Q
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


class AttachmentMissing(Exception):
    """An attachment's file is gone from its storage: retrying will not bring it back."""


def attachment(*, filename: str, mimetype: str, storage: str = "", name: str = "", content=b""):
    """One entry of ``EmailDelivery.attachments``: a file of a storage (``storage``,
    ``name``), read when the e-mail is sent, or small ``content`` kept in the row."""
    entry = {"filename": filename, "mimetype": mimetype}
    if storage:
        entry.update(storage=storage, name=name)
    else:
        entry["content_b64"] = base64.b64encode(content).decode()
    return entry


def _attach(message: EmailMultiAlternatives, entries: list[dict]) -> None:
    for entry in entries:
        if "content_b64" in entry:
            content = base64.b64decode(entry["content_b64"])
        else:
            try:
                with storages[entry["storage"]].open(entry["name"], "rb") as f:
                    content = f.read()
            except (FileNotFoundError, KeyError) as exc:
                raise AttachmentMissing(f"attachment {entry.get('name')!r} is gone") from exc
        message.attach(entry["filename"], content, entry["mimetype"])


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
        _attach(message, delivery.attachments)
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
