"""The book page is rendered once for everyone and finished per reader (catalog/book_page.py).

What a signed-in reader gets must be exactly what a fresh render would give them:
their own buy box (owned, credits, authorship) and the shared parts of the
current catalog, never another reader's bits, never a draft to a stranger.
"""

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog import services
from library.models import Entitlement
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db


def html_of(client, book) -> str:
    response = client.get(reverse("catalog:book", args=[book.slug]))
    assert response.status_code == 200
    return response.content.decode()


def grant(user, book):
    Entitlement.objects.create(user=user, book=book, granted_at=timezone.now())


@pytest.mark.parametrize("n", [1, 30])
def test_a_signed_in_reader_costs_two_queries_however_big_the_book(
    client, django_assert_max_num_queries, n
):
    authors = [AuthorFactory() for _ in range(3)]
    book = BookFactory(authors=authors)
    toc = "\n".join(f"- Chapter {i}" for i in range(n))
    services.replace_toc(book=book, lines=services.parse_toc(f"# Part\n{toc}"))
    client.force_login(UserFactory())
    html_of(client, book)  # renders and shares the parts

    # Whether the reader owns it, and their credits: nothing of the book's own.
    with django_assert_max_num_queries(2):
        html = html_of(client, book)
    assert "Chapter 0" in html and f"Chapter {n - 1}" in html
    assert "Buy now" in html


def test_an_owner_sees_the_book_in_their_library_not_a_buy_button(client):
    book = BookFactory(title="Owned Already")
    reader, stranger = UserFactory(), UserFactory()
    grant(reader, book)

    client.force_login(reader)
    html = html_of(client, book)
    assert "In your library" in html
    assert reverse("library:entry", args=[book.slug]) in html
    assert "Buy now" not in html and "100% refund within 60 days</a>" not in html
    assert "Buy with 1 credit" not in html

    # The next reader gets the same shared parts and their own buy box.
    client.force_login(stranger)
    html = html_of(client, book)
    assert "In your library" not in html and "Buy now" in html


def test_an_anonymous_visitor_never_gets_a_signed_in_readers_page(client):
    book = BookFactory()
    reader = UserFactory()
    grant(reader, book)
    client.force_login(reader)
    assert "In your library" in html_of(client, book)

    client.logout()
    html = html_of(client, book)
    assert "In your library" not in html and "Buy now" in html
    assert reader.email not in html


def test_an_author_gets_the_manage_link_and_other_readers_do_not(client):
    author = AuthorFactory()
    book = BookFactory(authors=[author])
    manage = reverse("catalog:manage_book", args=[book.slug])

    client.force_login(author.user)
    assert manage in html_of(client, book)
    client.force_login(UserFactory())
    assert manage not in html_of(client, book)


def test_a_change_to_the_book_shows_at_once_to_signed_in_readers(client):
    book = BookFactory(title="Before")
    client.force_login(UserFactory())
    assert "Before" in html_of(client, book)

    book.title = "After"
    book.save()
    services.replace_toc(book=book, lines=services.parse_toc("A new chapter"))

    html = html_of(client, book)
    assert "After" in html and "A new chapter" in html


def test_a_draft_is_never_shared_with_readers_who_may_not_see_it(client):
    author = AuthorFactory()
    book = BookFactory(status="draft", authors=[author])
    client.force_login(author.user)
    assert "Draft: only you" in html_of(client, book)

    client.force_login(UserFactory())
    response = client.get(reverse("catalog:book", args=[book.slug]))
    assert response.status_code == 404
    client.logout()
    assert client.get(reverse("catalog:book", args=[book.slug])).status_code == 404


def test_a_book_without_files_is_a_pre_order_and_says_so(client):
    book = BookFactory()
    html = html_of(client, book)
    assert 'data-testid="pre-order"' in html and "has not published this book's files" in html


def test_a_free_book_makes_no_refund_promise(client):
    book = BookFactory(minimum_price_cents=0, suggested_price_cents=0)
    html = html_of(client, book)
    assert "Get it free" in html
    assert "100% refund within 60 days" not in html
    assert "60 Day 100% Happiness Guarantee" not in html


def test_book_page_views_reach_the_shared_counter_once_a_push_is_due(client, settings):
    from catalog import stats

    settings.BOOK_VIEWS_PUSH_SECONDS = 3600
    book = BookFactory()
    stats.push_views()  # start a push period now
    for _ in range(3):
        html_of(client, book)
    today = timezone.localdate()
    assert stats.live_views(book.slug, today) == 0  # held by this process: no cache write per view

    stats.push_views()
    assert stats.live_views(book.slug, today) == 3
