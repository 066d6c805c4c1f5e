"""The lower apps' signals, turned into events for the authors' endpoints.

Each receiver runs inside the sender's transaction (see payments.signals and
catalog.signals.release_publishing) and costs one query when no author of the
book has an endpoint wanting the event."""

from django.conf import settings
from django.dispatch import receiver

from catalog.signals import release_publishing
from payments.models import LedgerEntry, LedgerTransaction
from payments.signals import payout_sent, refund_completed, sale_completed

from . import events
from .models import EventType


def _iso(moment) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment else None


def _book(book) -> dict:
    return {
        "slug": book.slug,
        "title": book.title,
        "url": settings.SITE_URL + book.get_absolute_url(),
    }


def _royalties(order, kind) -> dict[int, LedgerEntry]:
    """Each author's entry of the order's ``kind`` ledger transaction (their share)."""
    return {
        entry.author_id: entry
        for entry in LedgerEntry.objects.filter(
            transaction__order=order, transaction__kind=kind, account=LedgerEntry.Account.AUTHOR
        )
    }


@receiver(sale_completed, dispatch_uid="webhooks.sale_completed")
def on_sale_completed(sender, order, **kwargs):
    wanted = events.endpoints_wanting(EventType.SALE_COMPLETED, book_id=order.book_id)
    if not wanted:
        return
    entries = _royalties(order, LedgerTransaction.Kind.SALE)
    for author_id, endpoints in wanted.items():
        entry = entries.get(author_id)
        events.record(
            author_id=author_id,
            event_type=EventType.SALE_COMPLETED,
            key=f"order-{order.pk}",
            endpoints=endpoints,
            data={
                "order_id": str(order.public_id),
                "book": _book(order.book),
                "amount_cents": order.amount_cents,
                "currency": order.currency,
                "royalty_cents": entry.amount_cents if entry else 0,
                "payable_at": _iso(entry.available_at) if entry else None,
                "paid_at": _iso(order.paid_at),
            },
        )


@receiver(refund_completed, dispatch_uid="webhooks.refund_completed")
def on_refund_completed(sender, order, refund, **kwargs):
    wanted = events.endpoints_wanting(EventType.REFUND_COMPLETED, book_id=order.book_id)
    if not wanted:
        return
    entries = _royalties(order, LedgerTransaction.Kind.REFUND)
    for author_id, endpoints in wanted.items():
        entry = entries.get(author_id)
        events.record(
            author_id=author_id,
            event_type=EventType.REFUND_COMPLETED,
            key=f"order-{order.pk}",
            endpoints=endpoints,
            data={
                "order_id": str(order.public_id),
                "book": _book(order.book),
                "refunded_cents": refund.amount_cents,
                "currency": order.currency,
                "royalty_reversed_cents": -entry.amount_cents if entry else 0,
                "refunded_at": _iso(refund.refunded_at),
            },
        )


@receiver(release_publishing, dispatch_uid="webhooks.release_published")
def on_release_published(sender, book, release, **kwargs):
    wanted = events.endpoints_wanting(EventType.RELEASE_PUBLISHED, book_id=book.pk)
    for author_id, endpoints in wanted.items():
        events.record(
            author_id=author_id,
            event_type=EventType.RELEASE_PUBLISHED,
            key=f"release-{release.pk}",
            endpoints=endpoints,
            data={
                "book": _book(book),
                "version": release.version,
                "notes": release.notes,
                "published_at": _iso(release.published_at),
            },
        )


@receiver(payout_sent, dispatch_uid="webhooks.payout_sent")
def on_payout_sent(sender, payout, **kwargs):
    wanted = events.endpoints_wanting(EventType.PAYOUT_SENT, author_id=payout.author_id)
    for author_id, endpoints in wanted.items():
        events.record(
            author_id=author_id,
            event_type=EventType.PAYOUT_SENT,
            key=f"payout-{payout.pk}",
            endpoints=endpoints,
            data={
                "payout_id": payout.pk,
                "amount_cents": payout.amount_cents,
                "currency": payout.currency,
                "method": payout.method,
                "sent_at": _iso(payout.sent_at),
            },
        )
