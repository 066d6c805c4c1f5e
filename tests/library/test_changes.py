"""What changed since the reader's version: in the library and in the e-mail."""

import uuid

import pytest
from django.urls import reverse

from core.models import EmailDelivery
from library import changes, reader
from library.announcements import plan_announcement, queue_chunk
from library.changes import compare
from tests.factories import AuthorFactory, BookFactory, UserFactory
from tests.library.reading import FIRST, IMAGES, SECOND, png, publish_epub
from tests.library.test_library import buy

pytestmark = pytest.mark.django_db


def test_chapters_are_matched_by_title_and_compared_by_content():
    old = [("A", "1"), ("B", "2"), ("C", "3"), ("D", "4")]
    new = [("A", "1"), ("B", "2x"), ("E", "5"), ("C2", "3")]
    added, removed, changed = compare(old, new)
    assert added == ["E"]
    assert removed == ["D"]
    assert changed == ["B", "C → C2"]  # C renamed: same text, new title
    assert compare(old, old) == ([], [], [])
    # A title used twice is matched in order.
    assert compare([("Notes", "1"), ("Notes", "2")], [("Notes", "1"), ("Notes", "9")]) == (
        [],
        [],
        ["Notes"],
    )


def test_a_new_image_changes_the_chapter_that_shows_it():
    book = BookFactory()
    first = publish_epub(book, "1.0", FIRST, images=IMAGES)
    second = publish_epub(book, "1.1", FIRST, images={"images/d.png": png("blue")})
    found = changes.between({(first.pk, second.pk)})[(first.pk, second.pk)]
    assert found.changed == ["Streaming"] and not found.added and not found.removed


@pytest.fixture
def book():
    book = BookFactory(title="Behind the Stack")
    publish_epub(book, "1.0", FIRST, images=IMAGES)
    return book


def download_epub(client, book):
    url = reverse("library:download", args=[book.slug, book.current_release_id, "epub"])
    assert client.get(url).status_code == 200


def test_the_library_says_which_chapters_changed_since_the_last_download(client, book):
    owner = UserFactory()
    buy(owner, book)
    client.force_login(owner)
    download_epub(client, book)
    assert b"Since version" not in client.get(reverse("library:index")).content

    publish_epub(book, "2.0", SECOND, images=IMAGES)
    html = client.get(reverse("library:index")).content.decode()
    assert "Since version 1.0: 1 chapter added, 1 changed, 1 removed" in html
    listed = html[html.index('data-testid="changes"') :]
    assert listed.index("Added:") < listed.index("Chaos Engineering")
    assert listed.index("Changed:") < listed.index("Streaming")
    assert listed.index("Removed:") < listed.index("Old Appendix")
    assert "Caching" not in listed.split("</details>")[0]
    entry = client.get(reverse("library:entry", args=[book.slug])).content.decode()
    assert "Chaos Engineering" in entry

    download_epub(client, book)  # has the new version now: nothing to say
    assert b"Since version" not in client.get(reverse("library:index")).content


def test_a_reader_who_never_downloaded_compares_with_the_version_they_got(client, book):
    owner = UserFactory()
    buy(owner, book)
    publish_epub(book, "2.0", SECOND, images=IMAGES)
    late = UserFactory()
    buy(late, book)  # got 2.0: nothing changed for them
    client.force_login(owner)
    assert "Since version 1.0" in client.get(reverse("library:index")).content.decode()
    client.force_login(late)
    assert b"Since version" not in client.get(reverse("library:index")).content


def test_the_new_version_email_summarises_what_changed_for_each_reader(book):
    old_owner, new_owner = UserFactory(), UserFactory()
    buy(old_owner, book)
    middle = publish_epub(book, "1.5", FIRST[:3], images=IMAGES)
    buy(new_owner, book)  # has 1.5, which already lacked the appendix
    release = publish_epub(book, "2.0", SECOND, images=IMAGES)
    assert middle.pk != release.pk

    [chunk] = plan_announcement(release.pk)
    queue_chunk(release.pk, chunk)
    mails = EmailDelivery.objects.filter(key__startswith="new-version:")
    old = mails.get(to=old_owner.email)
    new = mails.get(to=new_owner.email)
    assert "Since version 1.0, the one you have: 1 chapter added, 1 changed, 1 removed." in old.body
    assert "Removed: Old Appendix" in old.body and "Old Appendix" in old.html
    assert "Since version 1.5, the one you have: 1 chapter added, 1 changed." in new.body
    assert "Removed" not in new.body


def test_the_diff_is_computed_once_per_pair_of_versions_whatever_the_readers(
    book, monkeypatch, django_assert_max_num_queries
):
    owners = [UserFactory() for _ in range(12)]
    for owner in owners:
        buy(owner, book)
    release = publish_epub(book, "2.0", SECOND, images=IMAGES)
    [chunk] = plan_announcement(release.pk)
    calls = []
    real = changes.compare
    monkeypatch.setattr(changes, "compare", lambda *a: calls.append(a) or real(*a))
    queue_chunk(release.pk, chunk[:2])
    with django_assert_max_num_queries(12):  # as many for 10 readers as for 2
        queue_chunk(release.pk, chunk[2:])
    assert len(calls) == 1  # cached for the second chunk
    assert EmailDelivery.objects.filter(body__contains="Chaos Engineering").count() == 12


@pytest.mark.parametrize("owned", [1, 12])
def test_the_library_page_stays_flat_with_changes_to_show(
    client, django_assert_max_num_queries, owned, settings
):
    reader_ = UserFactory()
    for _ in range(owned):
        b = BookFactory(authors=[AuthorFactory()])
        publish_epub(b, "1.0", FIRST, images=IMAGES)
        buy(reader_, b)
        publish_epub(b, "2.0", SECOND, images=IMAGES)
        reader.ensure_indexed(b.releases.values_list("pk", flat=True))  # done at publish
    # No cached list, no cached diff: an empty cache of this test's own. (cache.clear()
    # is FLUSHDB on Redis: it emptied every xdist worker's cache mid-test, a rate
    # limit's count included, and CI saw a 200 where a 429 was due.)
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": uuid.uuid4().hex}}
    client.force_login(reader_)
    with django_assert_max_num_queries(11):  # the user too: the cache was cleared
        html = client.get(reverse("library:index")).content.decode()
    assert html.count("Since version 1.0") == owned
