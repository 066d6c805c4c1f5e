import pytest
from django.db import connection
from django.urls import reverse

from catalog.selectors import catalog_facets, search_books
from tests.factories import AuthorFactory, BookFactory, CategoryFactory, UserFactory

pytestmark = pytest.mark.django_db


def titles(**kwargs) -> list[str]:
    return sorted(book.title for book in search_books(**kwargs))


def test_a_word_is_found_in_the_title_subtitle_pitch_or_an_authors_name():
    BookFactory(title="Django Deep Dive")
    BookFactory(title="Web Apps", subtitle="with django and htmx")
    BookFactory(title="Servers", blurb="Deploying DJANGO the boring way.")
    BookFactory(title="By Name", authors=[AuthorFactory(display_name="Dana Djangowski")])
    BookFactory(title="Rails Only", blurb="Nothing here.")

    assert titles(query="django") == ["By Name", "Django Deep Dive", "Servers", "Web Apps"]


def test_every_word_must_match_and_a_book_comes_once():
    both = AuthorFactory(display_name="Django Fan")
    BookFactory(title="Django Testing", blurb="django tests", authors=[both])
    BookFactory(title="Django Admin")

    assert titles(query="django testing") == ["Django Testing"]
    assert titles(query="django") == ["Django Admin", "Django Testing"]


def test_filters_and_unlisted_books():
    python = CategoryFactory(name="Python", slug="python")
    listed = BookFactory(title="Python Django", language="de")
    listed.categories.add(python)
    BookFactory(title="Other Django", language="de")
    BookFactory(title="Draft Django", status="draft").categories.add(python)
    BookFactory(title="Retired Django", status="retired").categories.add(python)

    assert titles(query="django", category="python") == ["Python Django"]
    assert titles(query="django", category="python", language="en") == []
    assert titles(query="django", language="de") == ["Other Django", "Python Django"]


def test_the_catalog_page_searches_and_sorts(client):
    BookFactory(title="Cheap Django", minimum_price_cents=99, suggested_price_cents=99)
    BookFactory(title="Dear Django", minimum_price_cents=4000, suggested_price_cents=4000)
    BookFactory(title="Go Book")

    html = client.get(reverse("catalog:list"), {"q": "django", "sort": "price_high"}).content
    html = html.decode()
    assert "Go Book" not in html
    assert html.index("Dear Django") < html.index("Cheap Django")


def test_facets_are_cached_until_the_catalog_changes(django_assert_max_num_queries):
    BookFactory(language="en").categories.add(CategoryFactory(name="Python", slug="python"))
    catalog_facets()
    with django_assert_max_num_queries(0):
        categories, languages = catalog_facets()
    assert [slug for slug, _ in categories] == ["python"] and [code for code, _ in languages] == [
        "en"
    ]

    BookFactory(language="fr")  # a catalog change bumps the generation

    _, languages = catalog_facets()
    assert [code for code, _ in languages] == ["en", "fr"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="trigram indexes are PostgreSQL's")
def test_postgresql_has_trigram_indexes_for_every_searched_column():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE %s", ["%_trgm"]
        )
        indexes = dict(cursor.fetchall())
    for name, column in [
        ("catalog_book_title_trgm", "title"),
        ("catalog_book_subtitle_trgm", "subtitle"),
        ("catalog_book_blurb_trgm", "blurb"),
        ("catalog_author_name_trgm", "display_name"),
    ]:
        assert f"upper(({column})::text) gin_trgm_ops" in indexes[name] or (
            f"upper({column}) gin_trgm_ops" in indexes[name]
        )


@pytest.mark.skipif(connection.vendor != "postgresql", reason="full-text search is PostgreSQL's")
def test_postgresql_searches_words_by_prefix_through_the_full_text_index():
    BookFactory(title="Django Deep Dive", blurb="Templates, views & the ORM.")
    BookFactory(title="Rust in Action")

    assert titles(query="djan") == ["Django Deep Dive"]
    assert titles(query="DJANGO orm") == ["Django Deep Dive"]
    assert titles(query="views") == ["Django Deep Dive"]
    # What a reader types is never tsquery syntax: operators are only separators.
    for query in ["django:*|rust", "!rust", "'", "&", "(django", "django)&'x"]:
        titles(query=query)  # no error
    assert titles(query="!rust") == ["Rust in Action"]

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = %s", ["catalog_book_search_document"]
        )
        assert "gin (search_document)" in cursor.fetchone()[0]


def test_turning_the_pages_of_a_search_counts_its_books_once(client, django_assert_num_queries):
    for i in range(30):
        BookFactory(title=f"Django volume {i}")
    url = reverse("catalog:list")
    client.force_login(UserFactory())  # no page cache: every page renders
    client.get(url, {"q": "django"})

    # The page's books and their authors; the count (and the facets) come from the cache.
    with django_assert_num_queries(2):
        response = client.get(url, {"q": "django", "page": "2"})
    assert response.status_code == 200 and "Django volume" in response.content.decode()

    BookFactory(title="Django volume 30")  # a catalog change: counted again
    response = client.get(url, {"q": "django", "page": "2"})
    assert response.context["page"].paginator.count == 31


def test_like_wildcards_a_reader_types_are_plain_characters():
    BookFactory(title="Plain", authors=[AuthorFactory(display_name="Ann 1000")])
    BookFactory(title="Odd", authors=[AuthorFactory(display_name="Bob 100%")])

    assert titles(query="100%") == ["Odd"]
