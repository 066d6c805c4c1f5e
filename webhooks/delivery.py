"""Sending one delivery: claim it, sign, POST, log the attempt, schedule the next.

Idempotent per attempt: a delivery is sent only while it is pending and due, by
whoever claimed it (a conditional UPDATE); a retried or redelivered task for an
attempt that was made finds it not due and does nothing. A worker dying between
the receiver's answer and our bookkeeping sends that message again: at least
once, with the same ``webhook-id`` for the receiver to de-duplicate by.
"""

import json
import logging
import random
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from core.mail import queue_templated_email

from . import signing, transport
from .addresses import RefusedURL, check_url
from .models import Attempt, Delivery, Endpoint

log = logging.getLogger(__name__)

# A claim older than this belongs to a worker that died mid-send: take it over.
CLAIM_TIMEOUT = timedelta(minutes=5)


def backoff_seconds(failures: int, *, rng: random.Random | None = None) -> float:
    """Wait after the ``failures``-th failed attempt: doubling from
    WEBHOOKS_RETRY_BASE_SECONDS up to WEBHOOKS_RETRY_MAX_SECONDS, with "equal
    jitter" (between half and all of it) so endpoints that failed together do not
    all come back at the same second."""
    rng = rng or random
    step = min(
        settings.WEBHOOKS_RETRY_BASE_SECONDS * 2 ** (failures - 1),
        settings.WEBHOOKS_RETRY_MAX_SECONDS,
    )
    return step / 2 + rng.uniform(0, step / 2)


def claim(delivery_id: int, *, by: str = "", now=None) -> Delivery | None:
    """Claim a pending, due delivery of an enabled endpoint; None if it is not ours to send."""
    now = now or timezone.now()
    free = Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT)
    if by:
        free |= Q(claimed_by=by)
    # No join in this UPDATE: PostgreSQL re-checks a row's own columns after waiting
    # for a concurrent claim, but not conditions Django moves into a joined subquery.
    claimed = Delivery.objects.filter(
        free,
        pk=delivery_id,
        status=Delivery.Status.PENDING,
        next_attempt_at__lte=now,
        endpoint_id__in=Endpoint.objects.filter(enabled=True).values("pk"),
    ).update(claimed_at=now, claimed_by=by)
    if not claimed:
        return None
    return Delivery.objects.select_related("event", "endpoint").get(pk=delivery_id)


def send(delivery_id: int, *, by: str = "", now=None) -> Attempt | None:
    """Make the delivery's next attempt if it is due; the attempt, or None."""
    delivery = claim(delivery_id, by=by, now=now)
    if delivery is None:
        return None
    endpoint = delivery.endpoint
    at = timezone.now()
    body = json.dumps(delivery.event.payload, separators=(",", ":"), sort_keys=True)
    try:
        target = check_url(endpoint.url)  # again: DNS may point elsewhere since it was saved
    except RefusedURL as exc:
        response = transport.Response(None, "", str(exc)[:300], 0)
    else:
        headers = signing.headers(
            active_secrets(endpoint, at), msg_id=delivery.message_id, at=at, body=body
        )
        response = transport.post(
            target, body.encode(), headers, timeout=settings.WEBHOOKS_TIMEOUT_SECONDS
        )
    return _book(delivery, response, at, now=now)


def active_secrets(endpoint: Endpoint, at) -> list[str]:
    if (
        endpoint.previous_secret
        and endpoint.previous_secret_until
        and endpoint.previous_secret_until > at
    ):
        return [endpoint.secret, endpoint.previous_secret]
    return [endpoint.secret]


def _book(delivery: Delivery, response: transport.Response, at, *, now=None) -> Attempt | None:
    """Log the attempt and move the delivery on, under its lock; once per attempt number."""
    now = now or at
    with transaction.atomic():
        # Endpoint, then delivery: the order set_enabled takes them in (no deadlock).
        Endpoint.objects.select_for_update().filter(pk=delivery.endpoint_id).first()
        locked = Delivery.objects.select_for_update().get(pk=delivery.pk)
        if locked.attempts != delivery.attempts or locked.status != Delivery.Status.PENDING:
            return None  # another worker booked this attempt (it took over a stale claim)
        number = locked.attempts + 1
        attempt = Attempt.objects.create(
            delivery=locked,
            number=number,
            at=at,
            status_code=response.status_code,
            response_excerpt=response.excerpt,
            error=response.error,
            duration_ms=response.duration_ms,
        )
        locked.attempts = number
        locked.last_status_code = response.status_code
        locked.claimed_at = None
        locked.claimed_by = ""
        if response.ok:
            locked.status = Delivery.Status.SUCCEEDED
            locked.delivered_at = at
            locked.next_attempt_at = None
            Endpoint.objects.filter(pk=locked.endpoint_id).update(failing_since=None)
        else:
            next_at = now + timedelta(seconds=backoff_seconds(number))
            if next_at > locked.retry_until:
                locked.status = Delivery.Status.FAILED
                locked.next_attempt_at = None
            else:
                locked.next_attempt_at = next_at
            _note_failure(
                locked.endpoint_id, now=now, gave_up=locked.status == Delivery.Status.FAILED
            )
        locked.save(
            update_fields=[
                "attempts",
                "last_status_code",
                "claimed_at",
                "claimed_by",
                "status",
                "delivered_at",
                "next_attempt_at",
            ]
        )
    return attempt


def _note_failure(endpoint_id: int, *, now, gave_up: bool) -> None:
    """Under the endpoint's lock: remember when it began failing; one failing for WEBHOOKS_RETRY_FOR
    (or whose delivery ran out of retries while it never answered) is disabled,
    and its author told, once."""
    Endpoint.objects.filter(pk=endpoint_id, failing_since__isnull=True).update(failing_since=now)
    endpoint = (  # locked by _book
        Endpoint.objects.select_related("author__user").get(pk=endpoint_id)
    )
    failing_for = now - endpoint.failing_since
    if not endpoint.enabled:
        return
    if not gave_up and failing_for < timedelta(seconds=settings.WEBHOOKS_RETRY_FOR_SECONDS):
        return
    endpoint.enabled = False
    endpoint.disabled_reason = (
        f"Disabled on {now:%Y-%m-%d %H:%M} UTC: no successful delivery since "
        f"{endpoint.failing_since:%Y-%m-%d %H:%M} UTC."
    )
    endpoint.save(update_fields=["enabled", "disabled_reason"])
    log.warning(
        "webhook endpoint %s disabled: failing since %s", endpoint.pk, endpoint.failing_since
    )
    queue_templated_email(
        key=f"webhook-disabled:endpoint-{endpoint.pk}:{endpoint.failing_since.timestamp():.0f}",
        to=endpoint.author.user.email,
        template="email/webhook_disabled",
        context={
            "endpoint": endpoint,
            "endpoint_url": settings.SITE_URL + reverse("webhooks:endpoint", args=[endpoint.pk]),
        },
    )


def due_delivery_ids(*, now=None, limit: int = 500) -> list[int]:
    """Pending deliveries whose attempt is due, of enabled endpoints, not being sent."""
    now = now or timezone.now()
    return list(
        Delivery.objects.filter(
            Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - CLAIM_TIMEOUT),
            status=Delivery.Status.PENDING,
            next_attempt_at__lte=now,
            endpoint__enabled=True,
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
