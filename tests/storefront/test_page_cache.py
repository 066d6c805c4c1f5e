"""The anonymous page cache cannot be poisoned: what one visitor's request puts
in a cached page is only what its key holds, so the next visitor of the clean
URL never sees another visitor's query parameters or Host header."""

import re
from urllib.parse import quote

import pytest
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse

from tests.factories import AuthorFactory, BookFactory

pytestmark = pytest.mark.django_db

SITE = "https://books.example"
JUNK = {"utm_source": "<script>alert(1)</script>", "next": "//evil.example", "sort[]": "POISON"}
ODD_HOST = "localhost"  # allowed, but not the site's address


@pytest.fixture(autouse=True)
def site_url(settings):
    settings.SITE_URL = SITE


def the_junk_in(html: str) -> list[str]:
    traces = ["utm_source", "script>alert", "alert(1)", "POISON", "evil.example", ODD_HOST]
    return [trace for trace in traces if trace in html]


def link(html: str, pattern: str) -> str:
    return re.search(pattern, html).group(1)


@pytest.fixture
def book():
    author = AuthorFactory(display_name="Ada Writer")
    return BookFactory(title="Scaling Stories", authors=[author])


def cached_pages(book):
    return {
        "home": reverse("home"),
        "catalog": reverse("catalog:list"),
        "book": book.get_absolute_url(),
        "author": book.author_list[0].get_absolute_url(),
    }


@pytest.mark.parametrize("name", ["home", "catalog", "book", "author"])
def test_a_visitor_with_junk_parameters_and_an_odd_host_cannot_change_the_page_others_get(
    book, name, django_assert_max_num_queries
):
    path = cached_pages(book)[name]
    # A search is junk on pages that are no search (the header's search box shows it).
    junk = JUNK if name == "catalog" else {**JUNK, "q": "POISON"}
    poisoned = Client(HTTP_HOST=ODD_HOST).get(path, junk)
    assert poisoned["X-Page-Cache"] == "miss"

    with django_assert_max_num_queries(0):
        clean = Client().get(path)

    assert clean["X-Page-Cache"] == "hit"
    assert the_junk_in(poisoned.content.decode()) == []
    assert the_junk_in(clean.content.decode()) == []


def test_the_book_pages_canonical_share_and_login_links_are_the_sites_own(book):
    path = book.get_absolute_url()
    Client(HTTP_HOST=ODD_HOST).get(path, {"utm_source": "evil", "fbclid": "x"})

    html = Client().get(path).content.decode()

    canonical = SITE + path
    assert link(html, r'<link rel="canonical" href="([^"]*)"') == canonical
    assert link(html, r'<meta property="og:url" content="([^"]*)"') == canonical
    assert link(html, r'sharer\.php\?u=([^"]*)"') == quote(canonical, safe="")
    assert link(html, r"twitter\.com/intent/tweet\?url=([^&]*)&") == quote(canonical, safe="")
    assert link(html, r'<input type="text" readonly value="([^"]*)"') == canonical
    assert link(html, r'href="[^"]*\?next=([^"]*)">Log in') == quote(path)


def test_the_cover_image_link_uses_the_sites_address_not_the_visitors_host(book):
    book.cover.save("cover.png", ContentFile(b"png"), save=True)

    html = Client(HTTP_HOST=ODD_HOST).get(book.get_absolute_url()).content.decode()

    assert link(html, r'<meta property="og:image" content="([^"]*)"') == SITE + book.cover.url


def test_junk_on_a_later_catalog_page_stays_out_of_its_pagination_links(settings):
    settings.CATALOG_PAGE_SIZE = 1
    for title in ("Alpha", "Beta", "Gamma"):
        BookFactory(title=title)
    catalog = reverse("catalog:list")
    Client().get(catalog, {"sort": "title", "page": "2", **JUNK})

    page_two = Client().get(f"{catalog}?page=2&sort=title")

    html = page_two.content.decode()
    assert page_two["X-Page-Cache"] == "hit" and the_junk_in(html) == []
    assert 'href="?sort=title&amp;page=1"' in html and 'href="?sort=title&amp;page=3"' in html
    assert "Beta" in html


def test_the_parameters_a_page_uses_still_make_pages_of_their_own(settings):
    settings.CATALOG_PAGE_SIZE = 1
    for title in ("Alpha", "Beta"):
        BookFactory(title=title)
    catalog = reverse("catalog:list")

    first = Client().get(catalog, {"sort": "title"})
    second = Client().get(catalog, {"sort": "title", "page": "2"})
    search = Client().get(catalog, {"q": "Beta"})

    assert [r["X-Page-Cache"] for r in (first, second, search)] == ["miss"] * 3
    assert "Alpha" in first.content.decode() and "Alpha" not in second.content.decode()
    assert "Beta" in second.content.decode()
    assert "Books matching “Beta”" in search.content.decode()


def test_page_numbers_that_show_the_same_page_share_one_cached_copy(settings):
    settings.CATALOG_PAGE_SIZE = 1
    for title in ("Alpha", "Beta"):
        BookFactory(title=title)
    catalog = reverse("catalog:list")

    assert Client().get(catalog, {"page": "abc"})["X-Page-Cache"] == "miss"
    assert Client().get(catalog, {"page": "1"})["X-Page-Cache"] == "hit"
    assert Client().get(catalog)["X-Page-Cache"] == "hit"
    assert Client().get(catalog, {"page": "02"})["X-Page-Cache"] == "miss"
    assert Client().get(catalog, {"page": "2"})["X-Page-Cache"] == "hit"


def test_a_long_search_is_shown_as_the_cache_key_holds_it():
    catalog = reverse("catalog:list")
    kept = "a" * 200
    Client().get(catalog, {"q": "   " + kept + "EVIL"})

    html = Client().get(catalog, {"q": kept + "OTHER"}).content.decode()

    assert "EVIL" not in html and "OTHER" not in html and f"“{kept}”" in html
