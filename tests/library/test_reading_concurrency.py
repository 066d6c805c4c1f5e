"""Two tabs, two workers, a double click at the same instant (PostgreSQL)."""

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from core.models import EmailDelivery
from library import reader
from library.models import EreaderAddress, ReadingPosition, ReleaseChapter, ReleaseText
from tests.concurrency import at_once
from tests.conftest import require
from tests.factories import BookFactory, UserFactory
from tests.library.reading import FIRST, IMAGES, publish_epub
from tests.library.test_library import buy


@pytest.fixture
def owned(transactional_db):
    require(connection.vendor == "postgresql", "concurrent writers need PostgreSQL")
    book = BookFactory()
    release = publish_epub(book, "1.0", FIRST, images=IMAGES)
    user = UserFactory()
    buy(user, book)
    return user, book, release


def test_two_workers_reading_one_release_store_its_chapters_once(owned):
    _, _, release = owned
    texts = at_once(*[lambda: reader.index_release(release.pk)] * 3)
    assert len({t.pk for t in texts}) == 1
    assert ReleaseText.objects.count() == 1
    assert ReleaseChapter.objects.filter(release=release).count() == len(FIRST)


def test_two_tabs_opening_chapters_keep_one_position(owned):
    user, book, _ = owned

    def open_chapter(number):
        def run():
            tab = Client()
            tab.force_login(user)
            return tab.get(reverse("library:read_chapter", args=[book.slug, number])).status_code

        return run

    assert at_once(open_chapter(2), open_chapter(3)) == [200, 200]
    [position] = ReadingPosition.objects.filter(user=user, book=book)
    assert position.chapter_number in (2, 3)


def test_a_double_click_on_send_at_the_same_instant_sends_once(owned):
    user, book, _ = owned
    EreaderAddress.objects.create(
        user=user, email="me@kindle.com", verified_at="2026-01-01T00:00:00Z"
    )
    token = str(uuid.uuid4())

    def click():
        tab = Client()
        tab.force_login(user)
        url = reverse("library:send_to_ereader", args=[book.slug])
        return tab.post(url, {"token": token}).status_code

    assert at_once(click, click) == [302, 302]
    assert EmailDelivery.objects.filter(key__startswith="ereader-send:").count() == 1
