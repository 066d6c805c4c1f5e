"""Rows inserted once, in one statement, on the sale path.

Django's ``get_or_create`` inside a transaction is four round trips (SELECT,
SAVEPOINT, INSERT, RELEASE SAVEPOINT), and building its SELECT of every column
costs more CPU than the database spends answering it. A sale made two of them
(the reader's entitlement, the receipt in the outbox). ``insert_once`` is one
``INSERT ... ON CONFLICT DO NOTHING RETURNING id``: the row is new, or another
already holds its unique key and nothing changed. PostgreSQL and SQLite (3.35+)
both answer it; elsewhere it falls back to ``get_or_create``'s way.
"""

from django.db import IntegrityError, connections, router, transaction
from django.db.models.constants import OnConflict


def insert_once(obj) -> bool:
    """Insert ``obj`` (a new instance of a model with an auto primary key) unless a
    row with one of its unique values exists. True, with ``obj.pk`` set, when it
    was inserted; False when it was there already (nothing written)."""
    model = type(obj)
    opts = model._meta
    db = router.db_for_write(model)
    fields = [f for f in opts.concrete_fields if f is not opts.pk and not f.generated]
    if not connections[db].features.can_return_columns_from_insert:
        try:
            with transaction.atomic(using=db):
                obj.save(force_insert=True, using=db)
        except IntegrityError:
            return False
        return True
    rows = model._base_manager.using(db)._insert(
        [obj], fields=fields, returning_fields=[opts.pk], on_conflict=OnConflict.IGNORE
    )
    row = rows[0] if rows else None
    if row is None:  # ON CONFLICT DO NOTHING returned no row
        return False
    obj.pk = row[0]
    obj._state.adding = False
    obj._state.db = db
    return True
