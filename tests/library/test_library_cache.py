"""The library list is cached per reader, and every change shows at once."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from library import caching
from library.models import Entitlement
from payments import refunds
from tests.factories import BookFactory, UserFactory
from tests.library.test_library import buy, publish

pytestmark = pytest.mark.django_db


def library(client) -> str:
    response = client.get(reverse("library:index"))
    assert response.status_code == 200
    return response.content.decode()


@pytest.fixture
def reader(client):
    reader = UserFactory()
    client.force_login(reader)
    return reader


def test_a_second_visit_costs_one_query_for_the_user(client, reader, django_assert_max_num_queries):
    book = BookFactory(title="Cached Book")
    publish(book, "1.0")
    buy(reader, book)
    assert "Cached Book" in library(client)

    with django_assert_max_num_queries(1):
        assert "Cached Book" in library(client)


def test_a_purchase_a_refund_and_a_download_show_at_once(client, reader):
    book = BookFactory(title="Fresh Book")
    publish(book, "1.0")
    assert "Your library is empty" in library(client)

    order = buy(reader, book)
    html = library(client)
    assert "Fresh Book" in html and "Request a refund" in html

    publish(book, "2.0")  # a new version: the catalog generation moves
    html = library(client)
    assert "Version 2.0" in html and "Updated since you got it" in html
    client.get(reverse("library:download", args=[book.slug, book.current_release_id, "pdf"]))
    assert "Updated since" not in library(client)

    refund = refunds.request_refund(order_id=order.pk, user=reader)
    refunds.execute_refund(refund_id=refund.pk)
    assert "Fresh Book" not in library(client)


def test_a_title_change_shows_at_once(client, reader):
    book = BookFactory(title="Old Title")
    publish(book, "1.0")
    buy(reader, book)
    assert "Old Title" in library(client)

    book.title = "New Title"
    book.save()
    assert "New Title" in library(client)


def test_an_admin_edit_of_an_entitlement_shows_at_once(client, reader):
    book = BookFactory(title="Admin Book")
    publish(book, "1.0")
    buy(reader, book)
    assert "Admin Book" in library(client)

    entitlement = Entitlement.objects.get(user=reader, book=book)
    entitlement.revoked_at = timezone.now()
    entitlement.save()
    assert "Admin Book" not in library(client)


def test_readers_never_see_each_others_lists(client, reader):
    book = BookFactory(title="Mine Only")
    publish(book, "1.0")
    buy(reader, book)
    assert "Mine Only" in library(client)

    client.force_login(UserFactory())
    assert "Mine Only" not in library(client)


def test_a_list_showing_a_refund_link_expires_with_the_link(monkeypatch):
    timeouts = []
    monkeypatch.setattr(
        caching, "cache", type("Cache", (), {"set": lambda self, k, v, t: timeouts.append(t)})()
    )
    now = timezone.now()

    entry = caching.CachedList("k", (1, 1), None)
    caching.store(
        entry, "html", now=now, expiring=[now + timedelta(seconds=42), now - timedelta(1)]
    )
    caching.store(entry, "html", now=now, expiring=[now + timedelta(days=30)])
    caching.store(entry, "html", now=now, expiring=[])

    assert timeouts == [42, caching.TIMEOUT, caching.TIMEOUT]
