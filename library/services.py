"""Who owns what, downloads, and the "new version" e-mails.

payments calls grant/revoke when an order is paid or refunded; the catalog's
``release_published`` signal starts the free-update fan-out (receivers.py).
"""

from django.db import connections, router, transaction
from django.db.models import Q
from django.utils import timezone

from catalog.models import ReleaseFile
from core.compiled import CompiledQuery

from . import caching, download_counts
from .models import Entitlement, ReaderPreference
from .signals import entitlement_granted, entitlement_revoked


def owns(user, book) -> bool:
    return user.is_authenticated and bool(_OWNS.rows(user.pk, book.pk))


def ownership(user, book):
    """The reader's active entitlement to the book, as a query (what ``owns`` asks;
    payments puts it beside its own question in one query, ``Exists(ownership(...))``)."""
    return Entitlement.objects.active().filter(user=user, book=book)


# Asked by the book page, the checkout and the buy box of every signed-in reader.
_OWNS = CompiledQuery(
    lambda user_id, book_id: ownership(user_id, book_id).values_list("pk")[:1], arity=2
)


def can_download(user, book) -> bool:
    """Owners, the book's authors, and staff may download its files."""
    if not user.is_authenticated:
        return False
    return user.is_staff or book.is_authored_by(user) or owns(user, book)


# No savepoint of its own inside the caller's transaction (a sale's): every caller
# lets an error here fail its whole transaction, so a savepoint would only cost
# two more round trips per sale.
@transaction.atomic(savepoint=False)
def grant_entitlement(
    *, user, book, at=None, order_ref=None, refundable_until=None
) -> tuple[Entitlement, bool]:
    """Give ``user`` the book; returns (entitlement, granted_now). Idempotent: a
    reader who owns the book keeps the entitlement they have, untouched."""
    entitlement = Entitlement(
        user=user,
        book=book,
        granted_at=at or timezone.now(),
        order_ref=order_ref,
        refundable_until=refundable_until,
    )
    if _insert_or_restore(entitlement):
        caching.forget(entitlement.user_id)  # as a save's post_save receiver does
        _announce_grant(entitlement)
        return entitlement, True
    return Entitlement.objects.select_for_update().get(user=user, book=book), False


def _insert_or_restore(entitlement: Entitlement) -> bool:
    """One statement for a sale's grant (no SELECT, no savepoint): insert the row,
    or give a revoked one back (the reader removed the book or was refunded), the
    conflicting row locked either way. True when granted now, with ``pk`` set;
    False when the reader holds an active entitlement already (nothing written).
    Fields the statement does not set (last download, notify) keep their values
    and are read on first use. Backends without RETURNING: ``get_or_create``."""
    db = router.db_for_write(Entitlement)
    connection = connections[db]
    if not connection.features.can_return_columns_from_insert:
        return _get_or_restore(entitlement)
    opts, qn = Entitlement._meta, connection.ops.quote_name
    fields = [opts.get_field(name) for name in ("user", "book", "granted_at", "order_ref")]
    fields += [opts.get_field(name) for name in ("refundable_until", "notify_updates")]
    table = qn(opts.db_table)
    unique = ", ".join(qn(opts.get_field(name).column) for name in ("user", "book"))
    restored = [
        qn(opts.get_field(n).column) for n in ("granted_at", "order_ref", "refundable_until")
    ]
    revoked = qn(opts.get_field("revoked_at").column)
    sql = (
        f"INSERT INTO {table} ({', '.join(qn(f.column) for f in fields)})"  # noqa: S608
        f" VALUES ({', '.join(['%s'] * len(fields))})"
        f" ON CONFLICT ({unique}) DO UPDATE SET {revoked} = NULL, "
        + ", ".join(f"{c} = EXCLUDED.{c}" for c in restored)
        + f" WHERE {table}.{revoked} IS NOT NULL RETURNING {qn(opts.pk.column)}"
    )
    params = [f.get_db_prep_save(getattr(entitlement, f.attname), connection) for f in fields]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return False
    _granted_as(entitlement, row[0], db)
    return True


def _granted_as(entitlement: Entitlement, pk: int, db: str) -> None:
    entitlement.pk = pk
    entitlement._state.adding, entitlement._state.db = False, db
    # A restored row's own last download and e-mail choice: read when asked, never guessed.
    for name in ("last_downloaded_release_id", "last_downloaded_at", "notify_updates"):
        entitlement.__dict__.pop(name, None)


def _get_or_restore(entitlement: Entitlement) -> bool:
    existing, created = Entitlement.objects.select_for_update().get_or_create(
        user=entitlement.user,
        book=entitlement.book,
        defaults={
            "granted_at": entitlement.granted_at,
            "order_ref": entitlement.order_ref,
            "refundable_until": entitlement.refundable_until,
        },
    )
    if not created and existing.revoked_at is None:
        return False
    if not created:
        existing.revoked_at = None
        existing.granted_at = entitlement.granted_at
        existing.order_ref = entitlement.order_ref
        existing.refundable_until = entitlement.refundable_until
        existing.save(update_fields=["revoked_at", "granted_at", "order_ref", "refundable_until"])
    _granted_as(entitlement, existing.pk, existing._state.db)
    return True


def _announce_grant(entitlement: Entitlement) -> None:
    user_id, book, order_ref = entitlement.user_id, entitlement.book, entitlement.order_ref
    transaction.on_commit(
        lambda: entitlement_granted.send(
            sender=Entitlement, user_id=user_id, book=book, order_ref=order_ref
        ),
        robust=True,
    )


@transaction.atomic
def revoke_entitlement(*, user, book, at=None, order_ref=None) -> bool:
    """Take the book back. Idempotent; returns whether anything changed.

    With ``order_ref`` (a refund) only what that order granted is taken back: a
    refund of one order never takes away a book another order still pays for.
    Without it (the reader removing a book), whatever granted it.
    """
    active = Entitlement.objects.filter(user=user, book=book, revoked_at__isnull=True)
    if order_ref is not None:
        # Rows granted before orders were remembered have no reference: theirs to take.
        active = active.filter(Q(order_ref=order_ref) | Q(order_ref__isnull=True))
    changed = active.update(revoked_at=at or timezone.now(), refundable_until=None)
    if changed:
        caching.forget(user.pk)
        user_id = user.pk
        transaction.on_commit(
            lambda: entitlement_revoked.send(sender=Entitlement, user_id=user_id, book=book),
            robust=True,
        )
    return bool(changed)


def record_download(*, user, release_file: ReleaseFile, entitlement=None) -> None:
    """Count the download for the author's stats (off the request's path) and clear
    the reader's "updated" mark: a write only when the mark changes."""
    download_counts.count(release_file.pk)
    release = release_file.release
    if release.pk != release.book.current_release_id:
        return
    if entitlement is not None and entitlement.last_downloaded_release_id == release.pk:
        return  # downloaded this version before: nothing to clear
    changed = Entitlement.objects.filter(user=user, book_id=release.book_id).update(
        last_downloaded_release=release, last_downloaded_at=timezone.now()
    )
    if changed:
        caching.forget(user.pk)


def reader_entitlement(user, book_id: int):
    """The reader's active entitlement to the book (what ``owns`` asks), or None."""
    if not user.is_authenticated:
        return None
    return (
        Entitlement.objects.active()
        .filter(user=user, book_id=book_id)
        .only("id", "last_downloaded_release_id", "order_ref")
        .first()
    )


def set_book_updates(*, user, book, enabled: bool) -> bool:
    return bool(Entitlement.objects.filter(user=user, book=book).update(notify_updates=enabled))


def set_all_updates(*, user, enabled: bool) -> None:
    ReaderPreference.objects.update_or_create(user=user, defaults={"new_version_emails": enabled})


def update_recipients(book):
    """Active owners of ``book`` who want its new-version e-mails, by id."""
    return (
        Entitlement.objects.active()
        .filter(book=book, notify_updates=True)
        .filter(
            Q(user__reader_preference__isnull=True)
            | Q(user__reader_preference__new_version_emails=True)
        )
        .filter(user__is_active=True)
        .order_by("user_id")
    )
