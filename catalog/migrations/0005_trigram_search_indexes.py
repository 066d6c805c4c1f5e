"""Trigram indexes for the catalog search (PostgreSQL only).

The search matches words anywhere in a title, subtitle, pitch or author name
(``icontains``, which Django writes as ``UPPER(col::text) LIKE UPPER(%s)``).
A b-tree cannot answer ``LIKE '%word%'``; a GIN index of trigrams over the same
``UPPER(...)`` expression can, so a search reads a few index pages instead of
upper-casing every book. SQLite (``make run``) has no pg_trgm and scans, which
is fine at its size. pg_trgm is a trusted extension (PostgreSQL 13+): the
database owner may create it.
"""

from django.db import migrations

INDEXES = {
    "catalog_book_title_trgm": "catalog_book USING gin (upper(title::text) gin_trgm_ops)",
    "catalog_book_subtitle_trgm": "catalog_book USING gin (upper(subtitle::text) gin_trgm_ops)",
    "catalog_book_blurb_trgm": "catalog_book USING gin (upper(blurb) gin_trgm_ops)",
    "catalog_author_name_trgm": "catalog_author USING gin (upper(display_name::text) gin_trgm_ops)",
}


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, definition in INDEXES.items():
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {name} ON {definition}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0004_remove_book_catalog_boo_status_41c402_idx_and_more")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
