"""Deleting a manuscript chapter asks first and can be undone (issue 20)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from catalog import manuscript
from catalog.models import ManuscriptChapter
from catalog.tasks import purge_deleted_chapters
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def book(author):
    book = BookFactory(authors=[author], slug="the-book")
    for title in ("One", "Two", "Three"):
        manuscript.add_chapter(book=book, title=title, markdown=f"{title} text.")
    return book


def titles(book):
    return list(book.manuscript_chapters.values_list("title", flat=True))


def url(name, book, chapter):
    return reverse(f"catalog:{name}", args=[book.slug, chapter.pk])


def test_delete_asks_for_confirmation_first_and_deletes_only_on_post(client, book):
    two = ManuscriptChapter.objects.get(title="Two")

    page = client.get(url("chapter_delete", book, two))

    assert page.status_code == 200
    html = page.content.decode()
    assert "Delete “Two”?" in html and 'method="post"' in html
    assert titles(book) == ["One", "Two", "Three"]

    response = client.post(url("chapter_delete", book, two))
    overview = reverse("catalog:manuscript", args=[book.slug])
    assert response["Location"] == f"{overview}?deleted={two.pk}"
    assert titles(book) == ["One", "Three"]


def test_the_overview_offers_undo_and_undo_puts_the_chapter_back_in_its_place(client, book):
    two = ManuscriptChapter.objects.get(title="Two")
    client.post(url("chapter_delete", book, two))

    html = client.get(client.post(url("chapter_delete", book, two))["Location"]).content.decode()
    assert "“Two” is deleted." in html
    assert f'action="{url("chapter_restore", book, two)}"' in html and ">Undo</button>" in html
    assert 'id="trash-heading"' in html

    response = client.post(url("chapter_restore", book, two), follow=True)
    assert "“Two” is back in the manuscript." in response.content.decode()
    assert titles(book) == ["One", "Two", "Three"]
    client.post(url("chapter_restore", book, two))  # a double click changes nothing
    assert titles(book) == ["One", "Two", "Three"]


def test_a_deleted_chapter_is_left_out_of_builds_edits_and_moves(client, book):
    two = ManuscriptChapter.objects.get(title="Two")
    manuscript.delete_chapter(chapter=two)

    assert [c.title for c in manuscript.book_text(book).chapters] == ["One", "Three"]
    assert client.get(url("chapter_edit", book, two)).status_code == 404
    assert client.post(url("chapter_move", book, two), {"direction": "up"}).status_code == 404


def test_only_the_books_authors_delete_or_restore_its_chapters(client, book):
    two = ManuscriptChapter.objects.get(title="Two")
    other_book = BookFactory(slug="other")
    foreign = manuscript.add_chapter(book=other_book, title="Foreign")

    for who in (UserFactory(), AuthorFactory().user):
        client.force_login(who)
        assert client.get(url("chapter_delete", book, two)).status_code == 403
        assert client.post(url("chapter_delete", book, two)).status_code == 403
        assert client.post(url("chapter_restore", book, two)).status_code == 403
    assert titles(book) == ["One", "Two", "Three"]

    client.force_login(book.author_list[0].user)  # another book's chapter through mine
    assert client.post(url("chapter_delete", book, foreign)).status_code == 404
    manuscript.delete_chapter(chapter=foreign)
    response = client.post(url("chapter_restore", book, foreign), follow=True)
    assert "cannot be restored" in response.content.decode()
    assert not other_book.manuscript_chapters.exists()


def test_the_trash_keeps_chapters_for_30_days_then_purges_them(client, book):
    two = ManuscriptChapter.objects.get(title="Two")
    manuscript.delete_chapter(chapter=two)
    ManuscriptChapter.with_deleted.filter(pk=two.pk).update(
        deleted_at=timezone.now() - timedelta(days=31)
    )

    response = client.post(url("chapter_restore", book, two), follow=True)
    assert "This chapter cannot be restored any more." in response.content.decode()
    assert 'id="trash-heading"' not in response.content.decode()

    assert purge_deleted_chapters() == 1
    assert not ManuscriptChapter.with_deleted.filter(pk=two.pk).exists()
    assert titles(book) == ["One", "Three"]


def test_importing_a_zip_empties_the_trash(book):
    from tests.catalog.test_manuscript import import_good

    manuscript.delete_chapter(chapter=ManuscriptChapter.objects.get(title="Two"))
    import_good(book)
    assert not manuscript.trash(book).exists()
