"""Read-side queries for catalog pages: each page costs a fixed number of queries."""

import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from hashlib import blake2b
from urllib.parse import urlencode

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, Prefetch, Q
from django.db.models.expressions import RawSQL

from core.pagecache import GENERATION_KEY, TIMEOUT, generation

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
    """Listed books matching every word (title, subtitle, pitch or an author's name),
    in the order ``sort`` names, with what their cards show."""
    return book_cards(_matching(query, category, language).order_by(*_ordering(sort)))


def _ordering(sort: str) -> list[str]:
    _label, ordering = SORTS.get(sort, SORTS["newest"])
    return ordering


def _matching(query: str, category: str, language: str):
    """The listed books a search finds, unordered.

    Author and category matches are subqueries, not joins: no duplicate rows, so
    no DISTINCT, and the ordering can walk an index.
    """
    books = Book.objects.listed()
    for word in query.split()[:8]:
        matches = _books_with_word(word)
        if matches is None:
            continue  # no letter or digit in it: nothing to look for
        books = books.filter(pk__in=matches)
    if category:
        books = books.filter(
            pk__in=Book.categories.through.objects.filter(category__slug=category).values("book_id")
        )
    if language:
        books = books.filter(language=language)
    return books


WORD_CHARACTERS = re.compile(r"\w+")


# A word's books on PostgreSQL: a UNION, not an OR with a subquery, so each side
# uses its own index (full text for the book's words, trigrams for names) instead
# of a scan; raw so the full-text side is not wrapped in a self-join on the ids.
BOOKS_WITH_WORD = """
    SELECT id FROM catalog_book WHERE search_document @@ to_tsquery('simple', %s)
    UNION
    SELECT ba.book_id FROM catalog_bookauthor ba JOIN catalog_author a ON a.id = ba.author_id
    WHERE UPPER(a.display_name::text) LIKE UPPER(%s)
"""


def _books_with_word(word: str):
    """The ids of books whose title, subtitle, pitch or an author's name has ``word``.

    On PostgreSQL a word is a prefix of a word of the book ("djan" finds "Django"),
    answered by the GIN index of the generated ``search_document`` column (catalog
    migration 0008), punctuation only separating words; a name has it anywhere
    (the trigram index of migration 0005). SQLite matches the word anywhere in the
    text. None when the word has nothing to look for.
    """
    if connection.vendor != "postgresql":
        by_author = BookAuthor.objects.filter(author__display_name__icontains=word)
        by_author = by_author.values("book_id")
        by_text = Book.objects.filter(
            Q(title__icontains=word) | Q(subtitle__icontains=word) | Q(blurb__icontains=word)
        ).values("pk")
        return by_text.order_by().union(by_author.order_by())
    parts = WORD_CHARACTERS.findall(word.lower())
    if not parts:
        return None
    # Only word characters reach the query text: no tsquery syntax from the reader;
    # LIKE's wildcards in the word are escaped as Django's icontains escapes them.
    tsquery = " & ".join(f"{part}:*" for part in parts)
    like = f"%{connection.ops.prep_for_like_query(word)}%"
    return RawSQL(BOOKS_WITH_WORD, [tsquery, like])  # noqa: S611 (a constant; bound values)


# A search's ids are cached up to this many (8 bytes each); a page past them
# (only a search finding more books than this) is read from the database.
CACHED_IDS = 10_000
FACETS_KEY = "catalog:facets"


class SearchResults(Sequence):
    """The ids of the books a search finds, in order: what its pages are slices of.

    Read once per catalog generation and search (one query for ids only, sorted by
    the database) and cached (``catalog_listing``): the count is free and a page of
    a search already made, in any order, is a slice of a cached list rather than a
    query sorting every match again. A sale's new bestseller order shows when the
    entry times out, as the page cache's does.
    """

    def __init__(self, found: tuple[int, bytes], *, query, category, language, sort):
        self._count, packed = found
        self._ids = array("q")
        self._ids.frombytes(packed)
        self._params = (query, category, language, sort)

    @classmethod
    def read(cls, *, query, category, language, sort) -> tuple[int, bytes]:
        """What the cache keeps of a search: its count and its first ids, packed."""
        ordered = _matching(query, category, language).order_by(*_ordering(sort))
        ids = array("q", ordered.values_list("pk", flat=True)[:CACHED_IDS])
        count = len(ids) if len(ids) < CACHED_IDS else ordered.count()
        return count, ids.tobytes()

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if not isinstance(index, slice):
            position = range(self._count)[index]  # IndexError past the end, as a list
            return self[position : position + 1][0]
        start, stop, step = index.indices(self._count)
        if stop <= len(self._ids):
            return self._ids[start:stop:step].tolist()
        query, category, language, sort = self._params
        ordered = _matching(query, category, language).order_by(*_ordering(sort))
        return list(ordered.values_list("pk", flat=True)[start:stop])[::step]


@dataclass
class CatalogListing:
    generation: int
    results: SearchResults
    categories: list
    languages: list


def catalog_listing(
    *, query: str = "", category: str = "", language: str = "", sort: str = "newest"
) -> CatalogListing:
    """What the catalog page lists: the ids of the books a search finds (see
    ``search_books``) and the filters' choices (``catalog_facets``).

    Both are the same for every reader until the catalog changes: cached with the
    catalog generation they were read under (core.pagecache, bumped by every catalog
    change) and read back in one round trip with the current generation; under
    another generation an entry is a miss.
    """
    sort = sort if sort in SORTS else "newest"
    params = {"query": query, "category": category, "language": language, "sort": sort}
    words = urlencode([("q", " ".join(query.split())), ("c", category), ("l", language)])
    search_key = f"catalog:search:{sort}:{blake2b(words.encode(), digest_size=12).hexdigest()}"
    found = cache.get_many([GENERATION_KEY, search_key, FACETS_KEY])
    current = found.get(GENERATION_KEY) or generation()
    fresh = {}
    search = _stamped(found, search_key, current)
    if search is None:
        search = fresh[search_key] = SearchResults.read(**params)
    facets = _stamped(found, FACETS_KEY, current)
    if facets is None:
        facets = fresh[FACETS_KEY] = _catalog_facets()
    if fresh:
        cache.set_many({key: (current, value) for key, value in fresh.items()}, TIMEOUT)
    return CatalogListing(current, SearchResults(search, **params), *facets)


def _stamped(found: dict, key: str, current: int):
    """The value cached at ``key`` under the generation ``current``, or None."""
    entry = found.get(key)
    return entry[1] if entry is not None and entry[0] == current else None


def catalog_facets():
    """Categories and languages to filter by (only those with listed books), cached
    as ``catalog_listing`` caches them."""
    found = cache.get_many([GENERATION_KEY, FACETS_KEY])
    current = found.get(GENERATION_KEY) or generation()
    facets = _stamped(found, FACETS_KEY, current)
    if facets is None:
        facets = _catalog_facets()
        cache.set(FACETS_KEY, (current, facets), TIMEOUT)
    return facets


def _catalog_facets():
    """(slug, name) of the categories and (code, name) of the languages, A–Z."""
    categories = list(
        Category.objects.filter(books__status__in=Book.LISTED_STATUSES)
        .distinct()
        .values_list("slug", "name")
    )
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
