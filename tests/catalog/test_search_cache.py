"""The catalog search's caches: each search's ordered ids and each book's card,
per catalog generation (catalog/selectors.py catalog_listing, catalog/cards.py)."""

import pytest
from django.test import Client
from django.urls import reverse

from catalog import selectors
from catalog.cards import cards_html
from catalog.models import Book
from tests.factories import AuthorFactory, BookFactory, CategoryFactory, UserFactory

pytestmark = pytest.mark.django_db

CATALOG = reverse("catalog:list")


def shown(response) -> list[str]:
    """The titles of the page's cards, in order."""
    html = response.content.decode()
    return [part.split("</a>", 1)[0].split(">")[-1] for part in html.split("<h3>")[1:]]


@pytest.fixture
def reader_client(client):
    client.force_login(UserFactory())  # no page cache: every request renders
    return client


def warm(client):
    """Cache the session, the user and the filters' choices (after the data is made:
    every catalog change starts a new generation)."""
    client.get(CATALOG, {"q": "nothing-at-all"})


def test_a_page_of_a_search_already_made_costs_no_query(
    reader_client, settings, django_assert_num_queries
):
    settings.CATALOG_PAGE_SIZE = 5
    for i in range(12):
        BookFactory(title=f"Django volume {i:02}")
    search = {"q": "django", "sort": "title"}
    warm(reader_client)
    # A new search: its ids (sorted by the database), then the cards' books and authors.
    with django_assert_num_queries(3):
        first = reader_client.get(CATALOG, search)
    assert shown(first) == [f"Django volume {i:02}" for i in range(5)]
    reader_client.get(CATALOG, {**search, "page": "3"})

    # Its ids and the cards seen are cached: the same pages again, or an
    # out-of-range page (the last one), read nothing from the database.
    with django_assert_num_queries(0):
        again = reader_client.get(CATALOG, search)
        last = reader_client.get(CATALOG, {**search, "page": "999"})
    assert shown(again) == shown(first)
    assert shown(last) == ["Django volume 10", "Django volume 11"]
    assert last.context["page"].number == 3 and last.context["page"].paginator.count == 12


def test_a_new_search_costs_the_same_queries_whatever_it_finds(
    reader_client, django_assert_num_queries
):
    for i in range(40):
        BookFactory(title=f"Rust volume {i}", authors=[AuthorFactory(), AuthorFactory()])
    BookFactory(title="Go volume")
    warm(reader_client)

    for query in ("rust", "go"):
        with django_assert_num_queries(3):
            reader_client.get(CATALOG, {"q": query})
    with django_assert_num_queries(1):  # nothing found: the ids only
        response = reader_client.get(CATALOG, {"q": "haskell"})
    assert "No books match" in response.content.decode()


def test_a_cached_search_shows_catalog_changes_at_once(reader_client):
    python = CategoryFactory(name="Python", slug="python")
    kept = BookFactory(title="Django kept", sales_count=5)
    kept.categories.add(python)
    gone = BookFactory(title="Django gone", sales_count=9)
    gone.categories.add(python)
    search = {"q": "django", "category": "python", "sort": "bestselling"}
    assert shown(reader_client.get(CATALOG, search)) == ["Django gone", "Django kept"]

    gone.status = Book.Status.RETIRED
    gone.save()
    newcomer = BookFactory(title="Django newcomer", sales_count=1)
    newcomer.categories.add(python)
    kept.title = "Django kept, second edition"
    kept.save()

    response = reader_client.get(CATALOG, search)
    assert shown(response) == ["Django kept, second edition", "Django newcomer"]
    assert response.context["page"].paginator.count == 2


def test_an_author_renamed_shows_on_the_cached_cards():
    author = AuthorFactory(display_name="Ada Lovelace")
    BookFactory(title="Notes", authors=[author])
    assert "Ada Lovelace" in Client().get(CATALOG).content.decode()

    author.display_name = "Ada King"
    author.save()

    html = Client().get(CATALOG, {"sort": "title"}).content.decode()
    home = Client().get(reverse("home")).content.decode()
    assert "Ada King" in html and "Ada Lovelace" not in html
    assert "Ada King" in home and "Ada Lovelace" not in home


def test_the_cards_read_by_id_are_the_cards_of_the_book_lists(reader_client):
    """Both ways of rendering a card share its cache entry: they must agree."""
    book = BookFactory(
        title="Shared <card>", authors=[AuthorFactory(display_name="B & C"), AuthorFactory()]
    )
    by_id = reader_client.get(CATALOG).content.decode()
    by_book = cards_html(selectors.book_cards(Book.objects.filter(pk=book.pk)))
    assert by_book in by_id and "Shared &lt;card&gt;" in by_book and "B &amp; C, " in by_book


def test_a_search_finding_more_books_than_are_cached_pages_on_from_the_database(
    reader_client, settings, monkeypatch
):
    settings.CATALOG_PAGE_SIZE = 4
    monkeypatch.setattr(selectors, "CACHED_IDS", 6)
    for i in range(10):
        BookFactory(title=f"Elixir volume {i}")
    expected = [book.title for book in selectors.search_books(query="elixir", sort="title")]

    pages = [
        shown(reader_client.get(CATALOG, {"q": "elixir", "sort": "title", "page": page}))
        for page in ("1", "2", "3")
    ]

    assert pages == [expected[0:4], expected[4:8], expected[8:10]]
    listing = selectors.catalog_listing(query="elixir", sort="title")
    assert len(listing.results) == 10 and listing.results[-1] == listing.results[9]
    with pytest.raises(IndexError):
        listing.results[10]


def test_the_filters_keep_the_choice_and_escape_the_names(reader_client):
    BookFactory().categories.add(CategoryFactory(name="C & <C++>", slug="cpp"))

    html = reader_client.get(CATALOG, {"category": "cpp", "sort": "price_low"}).content.decode()

    assert '<option value="cpp" selected>C &amp; &lt;C++&gt;</option>' in html
    assert '<option value="price_low" selected>Price: low to high</option>' in html
    assert '<option value="newest">Newest</option>' in html
