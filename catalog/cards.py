"""Book cards (catalog/_book_card.html), rendered once per catalog generation.

A card is the same on every page and for every reader until the catalog changes
(every change bumps core.pagecache's generation, part of each card's key), so a
list of cards costs one ``get_many`` and renders only the cards not cached yet.
A list known by its books' ids (a cached search) reads the books of the missing
cards only: when every card is cached it costs no query at all.
"""

from django.core.cache import cache
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

from core.pagecache import TIMEOUT, generation

from .models import Book, BookAuthor


def _key(current: int, book_id: int) -> str:
    return f"card:{current}:{book_id}"


# What a card shows of a book (besides its authors' names).
CARD_FIELDS = (
    "id",
    "slug",
    "title",
    "cover",
    "status",
    "minimum_price_cents",
    "suggested_price_cents",
)


def _render(book: Book, authors: list[str]) -> str:
    return render_to_string("catalog/_book_card.html", {"book": book, "authors": authors})


def cards_html(books) -> str:
    """The cards of ``books`` (Book instances with their authors), in order."""
    books = list(books)
    current = generation()
    keys = {_key(current, book.pk): book for book in books}
    html = cache.get_many(list(keys))
    missing = {
        key: _render(book, [author.display_name for author in book.author_list])
        for key, book in keys.items()
        if key not in html
    }
    if missing:
        cache.set_many(missing, TIMEOUT)
        html.update(missing)
    return mark_safe("".join(html[key] for key in keys))


def cards_html_for_ids(ids, *, current: int | None = None) -> str:
    """The cards of the books ``ids``, in order; a book no longer in the catalog
    (deleted since the ids were read) has no card."""
    if current is None:
        current = generation()
    keys = {book_id: _key(current, book_id) for book_id in ids}
    html = cache.get_many(list(keys.values()))
    missing_ids = [book_id for book_id, key in keys.items() if key not in html]
    if missing_ids:
        # Only what a card shows, and the names as strings: no model per author.
        names = {}
        for book_id, name in (
            BookAuthor.objects.filter(book_id__in=missing_ids)
            .order_by("book_id", "position", "id")
            .values_list("book_id", "author__display_name")
        ):
            names.setdefault(book_id, []).append(name)
        books = Book.objects.filter(pk__in=missing_ids).only(*CARD_FIELDS).order_by()
        missing = {keys[book.pk]: _render(book, names.get(book.pk, [])) for book in books}
        cache.set_many(missing, TIMEOUT)
        html.update(missing)
    return mark_safe("".join(html[key] for key in keys.values() if key in html))
