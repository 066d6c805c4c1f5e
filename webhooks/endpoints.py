"""An author's endpoints: add, change, rotate the secret, enable, delete, resend."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from . import dispatch, signing
from .addresses import check_url
from .models import Delivery, Endpoint

# The old secret keeps signing beside the new one this long after a rotation.
ROTATION_OVERLAP = timedelta(hours=24)


def add_endpoint(*, author, url: str, event_types: list[str], description: str = "") -> Endpoint:
    check_url(url)  # RefusedURL says why; the form shows it
    return Endpoint.objects.create(
        author=author,
        url=url,
        event_types=sorted(event_types),
        description=description,
        secret=signing.new_secret(),
    )


def change_endpoint(
    *, endpoint: Endpoint, url: str, event_types: list[str], description: str
) -> None:
    check_url(url)
    endpoint.url = url
    endpoint.event_types = sorted(event_types)
    endpoint.description = description
    endpoint.save(update_fields=["url", "event_types", "description"])


@transaction.atomic
def rotate_secret(*, endpoint_id: int) -> Endpoint:
    """A new secret signs from now on; the current one keeps signing beside it for
    ROTATION_OVERLAP. A second rotation inside the overlap drops the oldest."""
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint_id)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_until = timezone.now() + ROTATION_OVERLAP
    endpoint.secret = signing.new_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
    return endpoint


@transaction.atomic
def set_enabled(*, endpoint_id: int, enabled: bool) -> None:
    """Enabling starts afresh: the endpoint is not failing until it fails again, and
    what was waiting for it is due now."""
    endpoint = Endpoint.objects.select_for_update().get(pk=endpoint_id)
    if endpoint.enabled == enabled:
        return
    endpoint.enabled = enabled
    endpoint.disabled_reason = "" if enabled else "Disabled by you."
    endpoint.failing_since = None
    endpoint.save(update_fields=["enabled", "disabled_reason", "failing_since"])
    if enabled:
        now = timezone.now()
        waiting = list(
            Delivery.objects.filter(endpoint=endpoint, status=Delivery.Status.PENDING).values_list(
                "pk", flat=True
            )
        )
        Delivery.objects.filter(pk__in=waiting).update(
            next_attempt_at=now,
            retry_until=now + timedelta(seconds=settings.WEBHOOKS_RETRY_FOR_SECONDS),
        )
        dispatch.send_after_commit(waiting)


@transaction.atomic
def resend(*, delivery_id: int) -> bool:
    """Send a delivery again, same message id and body (the receiver de-duplicates),
    with a fresh WEBHOOKS_RETRY_FOR of retries. A delivery already waiting to be
    sent is left alone, so a double click queues one send. False if nothing changed."""
    delivery = Delivery.objects.select_for_update().get(pk=delivery_id)
    if delivery.status == Delivery.Status.PENDING:
        return False
    now = timezone.now()
    delivery.status = Delivery.Status.PENDING
    delivery.next_attempt_at = now
    delivery.retry_until = now + timedelta(seconds=settings.WEBHOOKS_RETRY_FOR_SECONDS)
    delivery.claimed_at = None
    delivery.claimed_by = ""
    delivery.save(
        update_fields=["status", "next_attempt_at", "retry_until", "claimed_at", "claimed_by"]
    )
    dispatch.send_after_commit([delivery.pk])
    return True


def delete_endpoint(*, endpoint: Endpoint) -> None:
    endpoint.delete()
