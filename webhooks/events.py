"""Events into the outbox: one Event per author and happening, one Delivery per
endpoint that wants it, written in the transaction of the change they announce.

Sending starts after commit (``dispatch``); nothing here touches the network."""

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from core.compiled import CompiledQuery

from . import dispatch
from .models import Delivery, Endpoint, Event, new_event_id


def _any_for_book(book_id):
    endpoints = Endpoint.objects.filter(enabled=True, author__authorships__book_id=book_id)
    return endpoints.values_list("pk")[:1]


_ANY_FOR_BOOK = CompiledQuery(_any_for_book, arity=1)  # asked by every sale


def endpoints_wanting(
    event_type: str, *, author_id=None, book_id=None
) -> dict[int, list[Endpoint]]:
    """The enabled endpoints wanting ``event_type`` of one author or of a book's
    authors, per author: one query, and the caller does nothing more when it is
    empty (the common case: a sale costs one query more)."""
    endpoints = Endpoint.objects.filter(enabled=True)
    if book_id is not None:
        if not _ANY_FOR_BOOK.rows(book_id):  # the usual answer, without building the query
            return {}
        endpoints = endpoints.filter(author__authorships__book_id=book_id)
    else:
        endpoints = endpoints.filter(author_id=author_id)
    wanted: dict[int, list[Endpoint]] = {}
    for endpoint in endpoints.distinct():
        if endpoint.wants(event_type):
            wanted.setdefault(endpoint.author_id, []).append(endpoint)
    return wanted


def record(*, author_id: int, event_type: str, key: str, data: dict, endpoints) -> Event | None:
    """The event, once per (author, type, key), and its deliveries; None if recorded before."""
    now = timezone.now()
    public_id = new_event_id()
    payload = {
        "id": public_id,
        "type": event_type,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    event, created = Event.objects.get_or_create(
        author_id=author_id,
        type=event_type,
        key=key,
        defaults={"payload": payload, "public_id": public_id},
    )
    if not created:
        return None
    retry_until = now + timedelta(seconds=settings.WEBHOOKS_RETRY_FOR_SECONDS)
    deliveries = Delivery.objects.bulk_create(
        Delivery(
            event=event,
            endpoint=endpoint,
            next_attempt_at=now,
            retry_until=retry_until,
        )
        for endpoint in endpoints
    )
    dispatch.send_after_commit([d.pk for d in deliveries])
    return event
