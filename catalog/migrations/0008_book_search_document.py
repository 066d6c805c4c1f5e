"""Full-text search over the book's own words (PostgreSQL only).

``search_document`` is a stored generated column, the title, subtitle and pitch
as a ``tsvector`` of the 'simple' configuration (no stemming: the catalog has many
languages), with a GIN index: a search word becomes a prefix query (``django:*``)
answered from the index, where the trigram ``LIKE '%word%'`` of migration 0005
made the planner read every pitch of a large catalog. The column is maintained by
PostgreSQL itself and unknown to the model; catalog.selectors.search_books reads
it. SQLite (``make run``) keeps the substring search.
"""

from django.db import migrations

ADD = """
ALTER TABLE catalog_book ADD COLUMN IF NOT EXISTS search_document tsvector
GENERATED ALWAYS AS (
    to_tsvector('simple'::regconfig,
        coalesce(title, '') || ' ' || coalesce(subtitle, '') || ' ' || coalesce(blurb, ''))
) STORED
"""
INDEX = "CREATE INDEX IF NOT EXISTS catalog_book_search_document ON catalog_book USING gin (search_document)"


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(ADD)
    schema_editor.execute(INDEX)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute("DROP INDEX IF EXISTS catalog_book_search_document")
    schema_editor.execute("ALTER TABLE catalog_book DROP COLUMN IF EXISTS search_document")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0007_invitation")]

    operations = [migrations.RunPython(create, drop, elidable=False)]
