"""The book page, rendered once for every reader and finished per request.

Everything on a book page but its buy box is the same for every reader who may
see the book: the meta tags, the cover and pitch, the table of contents, the
authors, the samples, the promises. Those parts are rendered once per catalog
generation and cached (``parts_for``); a request then costs one cache round trip
for them, and renders only the buy box (what this reader owns, their credits,
whether they wrote the book): a couple of indexed queries instead of the book's
eight queries and its Markdown.

Anonymous visitors get the whole page from the page cache (core.pagecache);
these parts serve signed-in readers and the page cache's misses. Only listed
books are shared: a draft or retired book is seen by its authors and staff only,
and is rendered for each of them.
"""

import copy
from dataclasses import dataclass
from urllib.parse import urljoin

from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string

from core.pagecache import GENERATION_KEY, TIMEOUT, generation

from . import selectors
from .models import Book

PARTS = {
    "meta": "catalog/book_page/meta.html",
    "head": "catalog/book_page/head.html",
    "rest": "catalog/book_page/rest.html",
}


@dataclass(frozen=True)
class BookParts:
    """What every reader of one book sees, rendered, and what the buy box needs."""

    book: Book  # the row alone, without its prefetched relations
    authors: tuple  # Author rows, in credit order
    author_user_ids: frozenset[int]
    formats: tuple[str, ...]  # of the current release: empty while the book has no files
    html: dict[str, str]

    def is_authored_by(self, user) -> bool:
        return user.is_authenticated and user.pk in self.author_user_ids


def _key(slug: str) -> str:
    return f"bookpage:{slug}"


def parts_for(request, slug: str) -> BookParts:
    """The book's shared parts, from the cache when they are current.

    Stored with the catalog generation they were rendered under (read before
    rendering, so a change while rendering makes them stale at once) and read
    back with the current one in a single round trip. Raises Book.DoesNotExist
    when the reader may not see such a book.
    """
    found = cache.get_many([_key(slug), GENERATION_KEY])
    current = found.get(GENERATION_KEY) or generation()
    entry = found.get(_key(slug))
    if entry is not None and entry[0] == current:
        return entry[1]
    book = selectors.book_for_page(slug=slug, user=request.user)
    parts = _render(request, book)
    if book.is_listed:
        cache.set(_key(slug), (current, parts), TIMEOUT)
    return parts


def _render(request, book: Book) -> BookParts:
    release = book.current_release
    formats = [f.get_format_display() for f in release.files.all()] if release else []
    context = {
        "book": book,
        "authors": book.author_list,
        "toc": selectors.toc_tree(book.toc_entries.all()),
        "formats": formats,
        "samples": {s.format: s for s in book.sample_files.all()},
        "translations": selectors.translations_of(book),
        # Absolute either way: object storage gives full URLs, local media a path
        # (joined to SITE_URL, not to the request's Host: the parts are shared).
        "cover_url": urljoin(f"{settings.SITE_URL}/", book.cover.url) if book.cover else "",
    }
    html = {name: render_to_string(template, context, request) for name, template in PARTS.items()}
    return BookParts(
        book=_row_only(book),
        authors=tuple(book.author_list),
        author_user_ids=frozenset(a.user_id for a in book.author_list if a.user_id),
        formats=tuple(formats),
        html=html,
    )


def _row_only(book: Book) -> Book:
    """A copy of ``book`` without its relations: small to cache, and the buy box
    cannot reach a relation without a visible query."""
    row = copy.copy(book)
    row._state = copy.copy(book._state)
    row._state.fields_cache = {}
    row.__dict__.pop("_prefetched_objects_cache", None)
    row.__dict__.pop("author_list", None)
    return row
