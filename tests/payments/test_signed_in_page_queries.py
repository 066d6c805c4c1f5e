"""The signed-in pages bench/run measures cost the same queries with 1 or 30 of everything."""

import uuid

import pytest
from django.urls import reverse

from core.reader_pages import forget_reader
from payments import credits, services
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db


def reader_with_history(n: int):
    """A reader with ``n`` paid orders (of ``n`` books) and ``n`` credit grants."""
    reader = UserFactory()
    author = AuthorFactory()
    for _ in range(n):
        book = BookFactory(authors=[author])
        order = services.place_order(
            buyer=reader, book=book, amount_cents=1999, checkout_token=uuid.uuid4()
        )
        services.mark_paid(order_id=order.pk, amount_cents=1999)
        credits.grant_credits(user=reader, credits=1)
    return reader


@pytest.mark.parametrize("n", [1, 30])
@pytest.mark.parametrize(
    ("url_name", "limit"),
    [("payments:orders", 2), ("payments:credits", 4), ("account", 5)],
)
def test_history_pages_cost_the_same_queries_however_long_the_history(
    client, django_assert_max_num_queries, n, url_name, limit
):
    reader = reader_with_history(n)
    client.force_login(reader)
    client.get(reverse(url_name))  # the user and the session into the cache
    forget_reader(reader.pk)  # rendered, not the cached page (0 queries, core/reader_pages.py)

    with django_assert_max_num_queries(limit):
        assert client.get(reverse(url_name)).status_code == 200


@pytest.mark.parametrize("n", [1, 30])
def test_the_checkout_page_asks_only_about_the_reader(client, django_assert_max_num_queries, n):
    book = BookFactory(authors=[AuthorFactory() for _ in range(3)])
    reader = reader_with_history(n)
    client.force_login(reader)
    url = reverse("payments:checkout", args=[book.slug]) + "?amount=19.99"
    client.get(url)  # the book page's shared parts into the cache
    forget_reader(reader.pk)  # rendered, not the cached page

    # Whether the reader owns the book, and their credits: the book comes from the cache.
    with django_assert_max_num_queries(2):
        response = client.get(url)
    assert response.status_code == 200 and book.title in response.content.decode()


def test_an_orders_url_is_what_reverse_gives():
    reader = reader_with_history(1)
    order = reader.orders.get()
    assert order.get_absolute_url() == reverse("payments:order", args=[order.public_id])
