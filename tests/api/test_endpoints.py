"""The endpoints as an author's scripts use them, and every kind of bad input."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Book, Build
from tests.api.conftest import PDF, api_client, manuscript_zip, sell
from tests.concurrency import at_once
from tests.conftest import require
from tests.factories import AuthorFactory, BookFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def assert_problem(response, status):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_books_lists_only_the_authors_own_books(api, book):
    BookFactory()  # someone else's
    response = api.get("/api/v1/books")
    assert [b["slug"] for b in response.json()] == ["my-book"]
    detail = api.get("/api/v1/books/my-book").json()
    assert detail["minimum_price"] == "9.99" and detail["royalty_share"] == 100


def test_another_authors_book_is_not_found(api):
    other = BookFactory(slug="theirs")
    assert_problem(api.get("/api/v1/books/theirs"), 404)
    assert_problem(api.patch("/api/v1/books/theirs", {"blurb": "x"}, format="json"), 404)
    assert_problem(api.get("/api/v1/sales", {"book": "theirs"}), 404)
    assert_problem(
        api.post("/api/v1/books/theirs/publish", {"version": "9.0"}, format="multipart"), 404
    )
    other.refresh_from_db()
    assert other.blurb == "A short pitch."


def test_patch_updates_blurb_prices_and_installments_through_the_book_forms_rules(api, book):
    response = api.patch(
        "/api/v1/books/my-book",
        {"blurb": "New pitch", "minimum_price": "4.99", "suggested_price": "12"},
        format="json",
    )
    assert response.status_code == 200, response.content
    book.refresh_from_db()
    assert (book.blurb, book.minimum_price_cents, book.suggested_price_cents) == (
        "New pitch",
        499,
        1200,
    )
    body = assert_problem(
        api.patch("/api/v1/books/my-book", {"minimum_price": "0.50"}, format="json"), 422
    )
    assert "minimum_price" in body["errors"]
    body = assert_problem(
        api.patch(
            "/api/v1/books/my-book",
            {"installments_completed": 5, "installments_planned": 3},
            format="json",
        ),
        422,
    )
    assert "installments_completed" in body["errors"]
    book.refresh_from_db()
    assert book.minimum_price_cents == 499 and book.installments_completed == 0


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        ('{"blurb": ', "application/json", 400),  # malformed JSON
        ('{"blurb": 5}', "application/json", 400),  # wrong type
        ('{"installments_planned": "3"}', "application/json", 400),
        ('{"installments_planned": true}', "application/json", 400),
        ('{"minimum_price": 4.99}', "application/json", 400),
        ('{"blurb": "x", "title": "Hacked"}', "application/json", 400),  # unknown field
        ("[1, 2]", "application/json", 400),
        ("blurb=x", "application/x-www-form-urlencoded", 415),
        ('{"minimum_price": "1e3"}', "application/json", 422),
        ('{"blurb": "nul \\u0000"}', "application/json", 400),
    ],
)
def test_bad_input_is_a_problem_and_changes_nothing(api, book, body, content_type, status):
    response = api.generic("PATCH", "/api/v1/books/my-book", body, content_type=content_type)
    assert_problem(response, status)
    fresh = Book.objects.get(pk=book.pk)
    assert (fresh.title, fresh.blurb, fresh.minimum_price_cents) == (
        book.title,
        book.blurb,
        book.minimum_price_cents,
    )


def test_an_unknown_field_is_named(api, book):
    body = assert_problem(api.patch("/api/v1/books/my-book", {"title": "x"}, format="json"), 400)
    assert body["errors"] == {"title": ["Unknown field; this endpoint does not accept it."]}


def test_oversized_bodies_and_uploads_are_413(api, book, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = api.generic(
        "PATCH", "/api/v1/books/my-book", '{"blurb": "%s"}' % ("x" * 2000), "application/json"
    )
    assert_problem(response, 413)
    settings.MAX_BOOK_FILE_BYTES = 10
    upload = SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf")
    response = api.post(
        "/api/v1/books/my-book/releases", {"version": "2.0", "pdf": upload}, format="multipart"
    )
    assert_problem(response, 413)
    assert not book.releases.exists()


def test_unknown_api_paths_answer_in_the_problem_format(api):
    assert_problem(api.get("/api/v1/nothing-here"), 404)
    assert_problem(api.delete("/api/v1/books"), 405)


def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(api, book):
    headers = {"HTTP_IDEMPOTENCY_KEY": "change-1"}
    first = api.patch("/api/v1/books/my-book", {"blurb": "One"}, format="json", **headers)
    Book.objects.filter(pk=book.pk).update(blurb="Changed meanwhile")
    again = api.patch("/api/v1/books/my-book", {"blurb": "One"}, format="json", **headers)
    assert again.status_code == 200 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    book.refresh_from_db()
    assert book.blurb == "Changed meanwhile"  # the replay ran nothing
    other = api.patch("/api/v1/books/my-book", {"blurb": "Two"}, format="json", **headers)
    assert_problem(other, 422)


def test_a_release_is_uploaded_then_published_once(api, book):
    upload = SimpleUploadedFile("a.pdf", PDF, content_type="application/pdf")
    response = api.post(
        "/api/v1/books/my-book/releases",
        {"version": "2.0", "notes": "New", "pdf": upload},
        format="multipart",
    )
    assert response.status_code == 201, response.content
    release = response.json()
    assert release["formats"] == ["pdf"] and not release["published"]
    url = f"/api/v1/books/my-book/releases/{release['id']}/publish"
    key = {"HTTP_IDEMPOTENCY_KEY": "pub-2.0"}
    assert api.post(url, **key).json()["published"]
    assert api.post(url, **key).json()["published"]
    book.refresh_from_db()
    assert book.current_release.version == "2.0"
    bad = SimpleUploadedFile("a.pdf", b"<html>", content_type="application/pdf")
    body = assert_problem(
        api.post(
            "/api/v1/books/my-book/releases", {"version": "3.0", "pdf": bad}, format="multipart"
        ),
        422,
    )
    assert "pdf" in body["errors"]


def test_publishing_a_manuscript_zip_builds_and_the_build_can_be_polled(
    api, book, django_capture_on_commit_callbacks
):
    zip_file = SimpleUploadedFile("book.zip", manuscript_zip(), content_type="application/zip")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/books/my-book/publish", {"manuscript": zip_file}, format="multipart"
        )
    assert response.status_code == 202, response.content
    build = response.json()
    assert build["kind"] == "publish" and build["version"] == "1.0"
    progress = api.get(build["url"]).json()
    assert progress["status"] == "done" and progress["finished"]
    assert progress["release_version"] == "1.0"
    book.refresh_from_db()
    assert book.current_release.version == "1.0"
    with django_capture_on_commit_callbacks(execute=True):
        second = api.post("/api/v1/books/my-book/publish", {}, format="multipart")
    assert second.json()["version"] == "1.1"
    preview = api.post("/api/v1/books/my-book/preview", {}, format="multipart")
    assert preview.status_code == 202 and preview.json()["kind"] == "preview"
    assert Build.objects.filter(book=book).count() == 3


def test_a_damaged_zip_is_a_problem(api, book):
    zip_file = SimpleUploadedFile("book.zip", b"not a zip", content_type="application/zip")
    response = api.post(
        "/api/v1/books/my-book/publish", {"manuscript": zip_file}, format="multipart"
    )
    body = assert_problem(response, 422)
    assert "not a zip" in body["detail"]
    assert not Build.objects.exists()


def test_sales_pages_by_cursor_with_royalty_and_payable_date(api, book):
    orders = [sell(book, 1000 + i) for i in range(7)]
    seen, url = [], "/api/v1/sales?limit=3"
    while url:
        page = api.get(url).json()
        seen += page["results"]
        url = page["next"]
    assert len(seen) == 7
    assert [row["order"] for row in seen] == [str(o.public_id) for o in reversed(orders)]
    first = seen[-1]
    assert first["price_cents"] == 1000 and first["royalty_cents"] == 800
    assert first["payable_at"] > first["created_at"]
    assert_problem(api.get("/api/v1/sales?cursor=garbage"), 400)
    assert_problem(api.get("/api/v1/sales?since=2026-13-01"), 400)
    assert_problem(api.get("/api/v1/sales?since=2026-02-01&until=2026-01-01"), 400)
    assert_problem(api.get("/api/v1/sales?limit=0"), 400)
    assert api.get("/api/v1/sales?since=2000-01-01&until=2000-01-02").json()["results"] == []


def test_refunds_list_only_refunds(api, book):
    from payments import refunds

    order = sell(book, 2000)
    sell(book, 1500)
    refunds.complete_refund(order_id=order.pk, gateway_refund_id="re_1")
    rows = api.get("/api/v1/refunds").json()["results"]
    assert [(r["kind"], r["price_cents"], r["royalty_cents"]) for r in rows] == [
        ("refund", -2000, -1600)
    ]


def test_co_authors_see_their_own_shares(key_for):
    first, second = AuthorFactory(), AuthorFactory()
    shared = BookFactory(authors=[first, second])
    sell(shared, 1000)
    for author in (first, second):
        client = api_client(key_for(author))
        rows = client.get("/api/v1/sales").json()["results"]
        assert [r["royalty_cents"] for r in rows] == [400]
        assert client.get("/api/v1/earnings?range=all").json()["total"]["royalties_cents"] == 400
        assert client.get(f"/api/v1/books/{shared.slug}").json()["royalty_share"] == 50


def test_earnings_are_the_dashboards_figures(api, book, writer):
    from payments import earnings

    sell(book, 1000)
    body = api.get("/api/v1/earnings?range=all").json()
    figures = earnings.earnings_for(writer, earnings.date_range("all"))
    assert body["total"]["royalties_cents"] == figures.total.royalties_cents == 800
    assert body["pending_cents"] == figures.balances.pending_cents
    assert body["sales_count"] == 1
    assert_problem(api.get("/api/v1/earnings?range=forever"), 400)
    assert_problem(api.get("/api/v1/earnings?range=custom&start=2026-01-01"), 400)


def test_the_sales_page_costs_the_same_queries_with_3_or_30_sales(api, book):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert api.get("/api/v1/sales?limit=50").status_code == 200
        return len(ctx)

    for _ in range(3):
        sell(book)
    queries()  # the key's first use of the minute also notes when it was used
    few = queries()
    for _ in range(27):
        sell(book)
    assert queries() == few


@pytest.mark.django_db(transaction=True)
def test_two_identical_publishes_at_once_build_once(writer, key_for):
    require(connection.vendor == "postgresql", "concurrency needs PostgreSQL")
    book = BookFactory(authors=[writer], slug="race")
    token = key_for(writer)

    def publish():
        client = api_client(token)
        upload = SimpleUploadedFile("book.zip", manuscript_zip(), content_type="application/zip")
        return client.post(
            "/api/v1/books/race/publish",
            {"manuscript": upload, "version": "1.0"},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="ci-run-7",
        ).status_code

    statuses = sorted(at_once(publish, publish))
    assert statuses in ([202, 202], [202, 409]), statuses
    assert Build.objects.filter(book=book).count() == 1
