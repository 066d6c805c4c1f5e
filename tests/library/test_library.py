import uuid

import pytest
from django.core import signing
from django.core.files.base import ContentFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog import services as catalog
from core.models import EmailDelivery
from library import download_counts
from library import services as library
from library.download_counts import flush_download_count
from library.models import Entitlement
from library.tokens import download_token, unsubscribe_token
from payments import services as payments
from tests.conftest import require
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db

V1_PDF = b"%PDF-1.4 version one %%EOF"
V2_PDF = b"%PDF-1.4 version two %%EOF"


def publish(book, version, pdf=V1_PDF, notes=""):
    release = catalog.create_release(
        book=book, version=version, notes=notes,
        files={"pdf": ContentFile(pdf, name="b.pdf"), "epub": ContentFile(b"PK epub", name="b.epub")},
    )  # fmt: skip
    release = catalog.publish_release(release=release)
    book.refresh_from_db()
    return release


def buy(user, book, amount=2000):
    order = payments.place_order(
        buyer=user, book=book, amount_cents=amount, checkout_token=uuid.uuid4()
    )
    payments.mark_paid(order_id=order.pk, amount_cents=amount)
    return order


@pytest.fixture
def book():
    book = BookFactory(slug="behindthestack-netflix-architecture", title="BehindTheStack")
    publish(book, "0.9")
    return book


@pytest.fixture
def owner(client, book):
    user = UserFactory()
    buy(user, book)
    client.force_login(user)
    return user


def download_url(book, fmt="pdf"):
    return reverse("library:download", args=[book.slug, book.current_release_id, fmt])


def test_the_library_lists_owned_books_with_downloads_receipt_and_refund(client, owner, book):
    html = client.get(reverse("library:index")).content.decode()

    assert "BehindTheStack" in html and "Version 0.9" in html
    assert download_url(book) in html and download_url(book, "epub") in html
    order = owner.orders.get()
    assert reverse("payments:order", args=[order.public_id]) in html
    assert reverse("payments:refund", args=[order.public_id]) in html


def test_the_owner_downloads_the_exact_file_with_a_good_name(client, owner, book):
    response = client.get(download_url(book))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert (
        response["Content-Disposition"]
        == 'attachment; filename="behindthestack-netflix-architecture-v0.9.pdf"'
    )
    assert b"".join(response.streaming_content) == V1_PDF
    release_file = book.current_release.files.get(format="pdf")
    assert release_file.download_count == 1


@pytest.mark.parametrize("who", ["anonymous", "stranger", "refunded"])
def test_non_owners_get_no_bytes(client, book, who):
    owner = UserFactory()
    buy(owner, book)
    if who == "stranger":
        client.force_login(UserFactory())
    if who == "refunded":
        Entitlement.objects.filter(user=owner).update(revoked_at="2026-01-01T00:00:00Z")
        client.force_login(owner)

    response = client.get(download_url(book))

    assert response.status_code in (302, 403, 404)
    assert not getattr(response, "streaming", False)
    if who == "anonymous":
        assert response["Location"].startswith(reverse("account_login"))


def test_authors_and_staff_may_download(client, book):
    client.force_login(book.author_list[0].user)
    assert client.get(download_url(book)).status_code == 200
    client.force_login(UserFactory(is_staff=True))
    assert client.get(download_url(book)).status_code == 200


def test_guessed_paths_and_other_books_releases_are_404(client, owner, book):
    other = BookFactory()
    other_release = publish(other, "1.0")

    assert (
        client.get(
            reverse("library:download", args=[book.slug, other_release.pk, "pdf"])
        ).status_code
        == 404
    )
    assert (
        client.get(reverse("library:download", args=[book.slug, 999999, "pdf"])).status_code == 404
    )
    assert (
        client.get(
            reverse("library:download", args=[book.slug, book.current_release_id, "exe"])
        ).status_code
        == 404
    )
    name = book.current_release.files.get(format="pdf").file.name
    assert client.get(f"/media/{name}").status_code == 404
    assert client.get(f"/{name}").status_code == 404


def test_an_emailed_link_works_without_login_until_the_book_is_refunded(client, book):
    owner = UserFactory()
    buy(owner, book)
    url = reverse(
        "library:download_link", args=[download_token(user_id=owner.pk, book_id=book.pk), "pdf"]
    )

    response = client.get(url)
    assert response.status_code == 200 and b"".join(response.streaming_content) == V1_PDF

    Entitlement.objects.filter(user=owner).update(revoked_at="2026-01-01T00:00:00Z")
    assert client.get(url).status_code == 404


def test_tampered_or_expired_links_are_refused(client, book, settings):
    owner = UserFactory()
    buy(owner, book)
    token = download_token(user_id=owner.pk, book_id=book.pk)
    forged = signing.dumps([UserFactory().pk, book.pk], salt="something else")

    assert (
        client.get(reverse("library:download_link", args=[token[:-2] + "xx", "pdf"])).status_code
        == 404
    )
    assert client.get(reverse("library:download_link", args=[forged, "pdf"])).status_code == 404
    settings.DOWNLOAD_LINK_MAX_AGE = -1
    assert client.get(reverse("library:download_link", args=[token, "pdf"])).status_code == 404


def test_a_new_release_reaches_every_owner_and_marks_the_update(
    client, owner, book, django_capture_on_commit_callbacks, mailoutbox
):
    free_reader = UserFactory()
    Entitlement.objects.create(user=free_reader, book=book, granted_at="2026-01-01T00:00:00Z")
    client.get(download_url(book))  # the owner has v0.9

    with django_capture_on_commit_callbacks(execute=True):
        publish(book, "1.0", V2_PDF, notes="Part IV is here.")

    book.refresh_from_db()
    html = client.get(reverse("library:index")).content.decode()
    assert "Version 1.0" in html and "Updated since you last downloaded" in html
    assert b"".join(client.get(download_url(book)).streaming_content) == V2_PDF
    assert sorted(m.to[0] for m in mailoutbox) == sorted([owner.email, free_reader.email])
    message = next(m for m in mailoutbox if m.to == [owner.email])
    assert message.subject == "New version of BehindTheStack: 1.0"
    assert "Part IV is here." in message.body and "/library/books/" in message.body
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "/library/unsubscribe/" in message.extra_headers["List-Unsubscribe"]


def test_an_owner_downloads_with_one_query_and_a_redownload_writes_nothing(
    client, owner, book, django_assert_num_queries, monkeypatch
):
    # The count's flush is a task (a worker's query, eager here): not the request's.
    monkeypatch.setattr(flush_download_count, "apply_async", lambda args, **kw: None)
    client.get(download_url(book))  # the first download clears the "updated" mark

    with django_assert_num_queries(1):  # the file, its book and the entitlement together
        response = client.get(download_url(book))
    assert b"".join(response.streaming_content) == V1_PDF


def test_a_download_s_lookup_is_planned_once_per_connection_on_postgresql(client, owner, book):
    # Parameters are bound on the server (settings), so psycopg prepares a statement after
    # prepare_threshold runs: PostgreSQL stops planning a four-table join per download,
    # and the ORM's own statements (the download count) are prepared the same way.
    require(connection.vendor == "postgresql", "prepared statements are PostgreSQL's")
    for _ in range(6):
        assert client.get(download_url(book)).status_code == 200
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        prepared = [row[0] for row in cursor.fetchall()]
    assert any("LEFT JOIN library_entitlement e" in sql for sql in prepared), prepared
    assert any('UPDATE "catalog_releasefile"' in sql for sql in prepared), prepared


def test_owning_another_book_or_another_readers_copy_is_not_owning_this_one(client, book):
    someone = UserFactory()
    buy(someone, book)
    reader = UserFactory()
    other = BookFactory()
    publish(other, "1.0")
    buy(reader, other)
    client.force_login(reader)

    assert client.get(download_url(other)).status_code == 200
    assert client.get(download_url(book)).status_code == 404


def test_an_unpublished_release_is_404_even_to_its_owner(client, owner, book):
    draft = catalog.create_release(
        book=book, version="2.0", notes="",
        files={"pdf": ContentFile(V2_PDF, name="b.pdf")},
    )  # fmt: skip

    url = reverse("library:download", args=[book.slug, draft.pk, "pdf"])
    assert client.get(url).status_code == 404
    client.force_login(book.author_list[0].user)  # not to its author either, from here
    assert client.get(url).status_code == 404


def test_a_book_taken_back_and_bought_again_downloads_again(client, owner, book):
    library.revoke_entitlement(user=owner, book=book)
    assert client.get(download_url(book)).status_code == 404

    library.grant_entitlement(user=owner, book=book)  # the same row, active again
    assert client.get(download_url(book)).status_code == 200


def test_previous_versions_stay_downloadable(client, owner, book):
    first = book.current_release
    publish(book, "1.0", V2_PDF)

    html = client.get(reverse("library:entry", args=[book.slug])).content.decode()
    assert "v0.9" in html and "v1.0" in html
    old = client.get(reverse("library:download", args=[book.slug, first.pk, "pdf"]))
    assert b"".join(old.streaming_content) == V1_PDF
    assert old["Content-Disposition"].endswith('-v0.9.pdf"')


def test_publishing_twice_or_retrying_sends_no_second_email(
    owner, book, django_capture_on_commit_callbacks, mailoutbox
):
    from library import tasks

    with django_capture_on_commit_callbacks(execute=True):
        release = publish(book, "1.0")
        catalog.publish_release(release=release)
    tasks.announce_release(release.pk)  # a retried task

    assert len(mailoutbox) == 1
    assert (
        EmailDelivery.objects.filter(key__startswith=f"new-version:release-{release.pk}:").count()
        == 1
    )


def test_opted_out_readers_get_no_email(
    client, owner, book, django_capture_on_commit_callbacks, mailoutbox
):
    per_book, everything = UserFactory(), UserFactory()
    buy(per_book, book)
    buy(everything, book)
    client.force_login(per_book)
    client.post(reverse("library:book_updates", args=[book.slug]), {"enabled": "0"})
    client.post(
        reverse(
            "library:unsubscribe", args=[unsubscribe_token(user_id=everything.pk, book_id=None)]
        )
    )

    with django_capture_on_commit_callbacks(execute=True):
        publish(book, "1.0")

    assert [m.to for m in mailoutbox] == [[owner.email]]


def test_one_click_unsubscribe_needs_a_post_and_a_valid_token(client, owner, book):
    url = reverse(
        "library:unsubscribe", args=[unsubscribe_token(user_id=owner.pk, book_id=book.pk)]
    )
    assert "Unsubscribe" in client.get(url).content.decode()
    assert Entitlement.objects.get(user=owner).notify_updates

    client.logout()
    assert client.post(url).status_code == 200
    assert not Entitlement.objects.get(user=owner).notify_updates
    assert client.post(reverse("library:unsubscribe", args=["forged"])).status_code == 404


def test_the_library_sorts_searches_and_has_an_empty_state(client):
    reader = UserFactory()
    client.force_login(reader)
    assert "Your library is empty." in client.get(reverse("library:index")).content.decode()
    for title in ["Zebra Book", "Alpha Book"]:
        buy(reader, BookFactory(title=title))

    by_title = client.get(reverse("library:index"), {"sort": "title"}).content.decode()
    assert by_title.index("Alpha Book") < by_title.index("Zebra Book")
    recent = client.get(reverse("library:index")).content.decode()
    assert recent.index("Zebra Book") > recent.index("Alpha Book")
    found = client.get(reverse("library:index"), {"q": "zebra"}).content.decode()
    assert "Zebra Book" in found and "Alpha Book" not in found


@pytest.mark.parametrize("owned", [1, 30])
def test_the_library_page_costs_the_same_queries_however_many_books(
    client, django_assert_max_num_queries, owned
):
    reader = UserFactory()
    for _ in range(owned):
        b = BookFactory(authors=[AuthorFactory(), AuthorFactory()])
        publish(b, "1.0")
        buy(reader, b)
    client.force_login(reader)
    with django_assert_max_num_queries(8):
        assert client.get(reverse("library:index")).status_code == 200


def test_a_free_book_can_be_removed_from_the_library(client):
    reader = UserFactory()
    free = BookFactory(minimum_price_cents=0, suggested_price_cents=0)
    buy(reader, free, amount=0)
    client.force_login(reader)
    assert (
        "Remove from library"
        in client.get(reverse("library:entry", args=[free.slug])).content.decode()
    )

    client.post(reverse("library:remove", args=[free.slug]))

    assert not Entitlement.objects.get(user=reader).is_active
    assert client.post(reverse("library:remove", args=[free.slug])).status_code == 404


# Downloads write no row every other download of the file writes too (library.download_counts).


def pdf_of(book):
    return book.current_release.files.get(format="pdf")


def test_every_download_is_counted_exactly(client, owner, book):
    for _ in range(3):
        assert client.get(download_url(book)).status_code == 200
    assert pdf_of(book).download_count == 3


def test_the_download_request_updates_no_file_row_and_the_flush_writes_them_once(
    client,
    owner,
    book,
    monkeypatch,
):
    queued = []
    monkeypatch.setattr(flush_download_count, "apply_async", lambda args, **kw: queued.append(args))
    client.get(download_url(book))  # the first download clears the "updated" mark

    with CaptureQueriesContext(connection) as queries:
        for _ in range(2):
            assert client.get(download_url(book)).status_code == 200
    writes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("UPDATE")]
    assert writes == []  # no count, and the mark is cleared already
    # One query each: the file, its book and the entitlement (library.downloads).
    assert len(queries.captured_queries) <= 2
    assert queued == [(pdf_of(book).pk,)]  # one flush queued for the three downloads

    assert download_counts.flush(pdf_of(book).pk) == 3
    assert download_counts.flush(pdf_of(book).pk) == 0  # a repeated flush adds nothing
    assert pdf_of(book).download_count == 3
