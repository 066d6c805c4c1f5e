"""Read-side queries for catalog pages: each page costs a fixed number of queries."""

import re
from dataclasses import dataclass
from hashlib import blake2b
from urllib.parse import urlencode

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Prefetch, Q
from django.db.models.expressions import RawSQL

from core.pagecache import TIMEOUT, generation

from .models import (
    LANGUAGE_CHOICES,
    LANGUAGE_NAMES,
    Book,
    BookAuthor,
    Category,
    ReleaseFile,
    TocEntry,
)

SORTS = {
    "newest": ("Newest", ["-published_at", "-id"]),
    "bestselling": ("Bestselling", ["-sales_count", "-published_at"]),
    "title": ("Title A–Z", ["title", "id"]),
    "price_low": ("Price: low to high", ["minimum_price_cents", "title"]),
    "price_high": ("Price: high to low", ["-minimum_price_cents", "title"]),
}


# Long texts a card never shows: not fetched for lists.
CARD_DEFER = ("about", "early_access_note", "sample_markdown", "blurb")


def book_cards(queryset):
    """What a list of book cards needs: authors in order, in one extra query."""
    return queryset.defer(*CARD_DEFER).with_authors()


def book_for_page(*, slug: str, user):
    """The book page: the book and everything it shows, prefetched; 404 if not visible."""
    return (
        Book.objects.visible_to(user)
        .select_related("translation_of", "current_release")
        .with_authors()
        .prefetch_related(
            "categories",
            "sample_files",
            Prefetch("toc_entries", queryset=TocEntry.objects.order_by("position")),
            Prefetch(
                "current_release__files",
                queryset=ReleaseFile.objects.only("id", "format", "size", "release_id"),
            ),
        )
        .distinct()
        .get(slug=slug)
    )


def translations_of(book: Book) -> list[Book]:
    """The other listed language editions of ``book`` (its original and siblings, or its translations)."""
    root_id = book.translation_of_id or book.pk
    return list(
        Book.objects.listed()
        .filter(Q(pk=root_id) | Q(translation_of_id=root_id))
        .exclude(pk=book.pk)
        .only("id", "slug", "title", "language", "translation_of_id")
        .order_by("language", "title")
    )


@dataclass
class TocPart:
    entry: TocEntry | None
    chapters: list[TocEntry]


def toc_tree(entries) -> list[TocPart]:
    """Group the flat table of contents into parts holding their chapters.

    Chapters standing alone (a preface) come as a part with ``entry=None``.
    """
    tree: list[TocPart] = []
    for entry in entries:
        if entry.kind == TocEntry.Kind.PART:
            tree.append(TocPart(entry=entry, chapters=[]))
        elif entry.in_part and tree and tree[-1].entry is not None:
            tree[-1].chapters.append(entry)
        else:
            tree.append(TocPart(entry=None, chapters=[entry]))
    return tree


def search_books(*, query: str = "", category: str = "", language: str = "", sort: str = "newest"):
    """Listed books matching every word (title, subtitle, pitch or an author's name).

    Author and category matches are subqueries, not joins: no duplicate rows, so
    no DISTINCT, and the ordering can walk an index.
    """
    books = Book.objects.listed()
    for word in query.split()[:8]:
        # A UNION, not an OR with a subquery: each side can use its own index
        # (full text for the book's words, trigrams for names) instead of a scan.
        by_text = _books_with_word(word)
        if by_text is None:
            continue  # no letter or digit in it: nothing to look for
        by_author = BookAuthor.objects.filter(author__display_name__icontains=word).values(
            "book_id"
        )
        books = books.filter(pk__in=by_text.order_by().union(by_author.order_by()))
    if category:
        books = books.filter(
            pk__in=Book.categories.through.objects.filter(category__slug=category).values("book_id")
        )
    if language:
        books = books.filter(language=language)
    _label, ordering = SORTS.get(sort, SORTS["newest"])
    return book_cards(books.order_by(*ordering))


WORD_CHARACTERS = re.compile(r"\w+")


def _books_with_word(word: str):
    """The ids of books whose title, subtitle or pitch has ``word``.

    On PostgreSQL a word is a prefix of a word of the book ("djan" finds "Django"),
    answered by the GIN index of the generated ``search_document`` column (catalog
    migration 0008); punctuation only separates words. SQLite matches the word
    anywhere in the text. None when the word has nothing to look for.
    """
    if connection.vendor != "postgresql":
        return Book.objects.filter(
            Q(title__icontains=word) | Q(subtitle__icontains=word) | Q(blurb__icontains=word)
        ).values("pk")
    parts = WORD_CHARACTERS.findall(word.lower())
    if not parts:
        return None
    # Only word characters reach the query text: no tsquery syntax from the reader.
    tsquery = " & ".join(f"{part}:*" for part in parts)
    return Book.objects.filter(
        pk__in=RawSQL(
            "SELECT id FROM catalog_book WHERE search_document @@ to_tsquery('simple', %s)",
            [tsquery],
        )
    ).values("pk")


def search_count(books, **params) -> int:
    """How many books a search finds (``books`` is its queryset), counted once per
    catalog generation and cached: every page of one search, in any order, shares
    the count, so turning a page costs the page's query only."""
    query = urlencode(sorted((name, value) for name, value in params.items() if value))
    key = f"catalog:count:{generation()}:{blake2b(query.encode(), digest_size=12).hexdigest()}"
    count = cache.get(key)
    if count is None:
        count = books.count()
        cache.set(key, count, TIMEOUT)
    return count


def catalog_facets():
    """Categories and languages to filter by (only those with listed books).

    The same for every search until the catalog changes: cached under the page
    cache's catalog generation, which every catalog change bumps.
    """
    key = f"catalog:facets:{generation()}"
    facets = cache.get(key)
    if facets is None:
        facets = _catalog_facets()
        cache.set(key, facets, TIMEOUT)
    return facets


def _catalog_facets():
    categories = list(Category.objects.filter(books__status__in=Book.LISTED_STATUSES).distinct())
    # order_by: Meta.ordering would otherwise join DISTINCT (one "language" per book).
    codes = Book.objects.listed().order_by("language").values_list("language", flat=True).distinct()
    languages = sorted(((c, LANGUAGE_NAMES.get(c, c)) for c in codes), key=lambda x: x[1])
    return categories, languages


def home_shelves(limit: int = 6) -> dict:
    listed = Book.objects.listed()
    return {
        "featured": list(
            book_cards(listed.filter(featured=True).order_by("-published_at"))[:limit]
        ),
        "newest": list(book_cards(listed.order_by("-published_at", "-id"))[:limit]),
        "bestsellers": list(
            book_cards(listed.filter(sales_count__gt=0).order_by("-sales_count", "-published_at"))[
                :limit
            ]
        ),
        "in_progress": list(
            book_cards(listed.filter(status=Book.Status.IN_PROGRESS).order_by("-updated_at"))[
                :limit
            ]
        ),
    }


# Offered first on the book form, after the languages the catalog uses most.
COMMON_LANGUAGES = ("en", "es", "pt-br", "de", "fr", "it", "ja", "zh-hans")
FIRST_LANGUAGES = 8


def language_choices() -> list:
    """The book form's languages as <optgroup>s: first the ones the listed books use
    most (topped up with common ones), then all the others A–Z."""
    used = (
        Book.objects.listed()
        .order_by()
        .values("language")
        .annotate(books=Count("id"))
        .order_by("-books", "language")
        .values_list("language", flat=True)[:FIRST_LANGUAGES]
    )
    first = [code for code in used if code in LANGUAGE_NAMES]
    for code in COMMON_LANGUAGES:
        if len(first) >= FIRST_LANGUAGES:
            break
        if code not in first:
            first.append(code)
    rest = [(code, name) for code, name in LANGUAGE_CHOICES if code not in first]
    return [
        ("Most used", [(code, LANGUAGE_NAMES[code]) for code in first]),
        ("All languages (A–Z)", rest),
    ]


def has_files(book: Book) -> bool:
    """Whether the book's current release has files to download; a book without
    them is sold as a pre-order (the book page's parts know it as ``formats``)."""
    return (
        book.current_release_id is not None
        and ReleaseFile.objects.filter(release_id=book.current_release_id).exists()
    )
