"""Who owns what. Called by payments when an order is paid or refunded."""

from django.db import transaction
from django.utils import timezone

from .models import Entitlement


def owns(user, book) -> bool:
    return (
        user.is_authenticated and Entitlement.objects.active().filter(user=user, book=book).exists()
    )


@transaction.atomic
def grant_entitlement(*, user, book, at=None) -> tuple[Entitlement, bool]:
    """Give ``user`` the book; returns (entitlement, created_or_reactivated). Idempotent."""
    at = at or timezone.now()
    entitlement, created = Entitlement.objects.select_for_update().get_or_create(
        user=user, book=book, defaults={"granted_at": at}
    )
    if created:
        return entitlement, True
    if entitlement.revoked_at is not None:
        entitlement.revoked_at = None
        entitlement.granted_at = at
        entitlement.save(update_fields=["revoked_at", "granted_at"])
        return entitlement, True
    return entitlement, False


@transaction.atomic
def revoke_entitlement(*, user, book, at=None) -> bool:
    """Take the book back (a refund). Idempotent; returns whether anything changed."""
    changed = Entitlement.objects.filter(user=user, book=book, revoked_at__isnull=True).update(
        revoked_at=at or timezone.now()
    )
    return bool(changed)
