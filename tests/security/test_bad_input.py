"""Text the database cannot store (NUL, lone surrogates) is a 400 with a clear
message wherever it is sent: the query string, a form field, the path. One
middleware answers it (core/input_guard.py), before any view runs."""

import io
import json
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import Book
from core.input_guard import unstorable
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db

NUL = "\x00"


def assert_refused(response):
    assert response.status_code == 400
    assert b"a character we cannot accept" in response.content


@pytest.fixture
def staff(client):
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    return user


def test_a_nul_in_the_book_search_is_a_400_saying_why(client):
    BookFactory()

    response = client.get("/books/?q=%00")

    assert_refused(response)
    assert b"NUL" in response.content
    # The page's own search box does not echo the bad text back.
    assert b'value=""' in response.content


def test_a_nul_in_the_library_search_is_a_400(client):
    client.force_login(UserFactory())

    assert_refused(client.get("/library/?q=ok%00"))


def test_a_nul_in_a_query_parameter_name_is_a_400(client):
    assert_refused(client.get("/books/?so%00rt=newest"))


@pytest.mark.parametrize(
    "query",
    ["q=%00", "status__exact=%00", "o=%00", "p=%00", "e=%00"],
)
def test_a_nul_in_the_admin_changelist_search_or_filters_is_a_400(client, staff, query):
    assert_refused(client.get(f"/admin/catalog/book/?{query}"))


def test_a_nul_in_the_earnings_author_is_a_400(client, staff):
    assert_refused(client.get("/author/earnings/?author=%00"))
    assert_refused(client.get("/author/earnings.csv?author=x%00"))


def test_a_nul_in_a_posted_form_field_is_a_400_and_changes_nothing(client):
    author = AuthorFactory()
    client.force_login(author.user)

    response = client.post(
        reverse("catalog:book_create"),
        {"title": f"Bad{NUL}title", "language": "en", "status": "draft"},
    )

    assert_refused(response)
    assert not Book.objects.exists()


def test_a_nul_in_a_posted_field_name_is_a_400(client):
    client.force_login(UserFactory())

    assert_refused(client.post(reverse("library:preferences"), {f"x{NUL}": "1"}))


def test_a_nul_in_a_multipart_text_field_is_a_400(client):
    author = AuthorFactory()
    client.force_login(author.user)
    cover = SimpleUploadedFile("cover.png", b"\x89PNG\r\n\x1a\n\x00\x00")

    response = client.post(
        reverse("catalog:book_create"),
        {"title": f"x{NUL}", "language": "en", "cover": cover},
    )

    assert_refused(response)


def test_a_nul_in_the_login_form_is_a_400_not_a_500(client):
    response = client.post(
        reverse("account_login"), {"login": f"a{NUL}@example.com", "password": "x"}
    )

    assert_refused(response)


def test_a_nul_in_the_path_is_a_400(client):
    assert_refused(client.get("/library/get/abc%00/pdf/"))


def test_uploaded_files_may_hold_any_bytes(client):
    """Binary content is not text: a zip (full of NUL bytes) reaches the view."""
    author = AuthorFactory()
    client.force_login(author.user)
    book = BookFactory(authors=[author])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("Book.txt", "one.md\n")
        archive.writestr("one.md", "# One\n\nHello.\n")

    response = client.post(
        reverse("catalog:manuscript_upload", args=[book.slug]),
        {"zip_file": SimpleUploadedFile("book.zip", out.getvalue())},
    )

    assert response.status_code == 302
    assert book.manuscript_chapters.get().title == "One"


def test_the_stripe_webhook_body_is_left_to_the_webhook(client, settings):
    """JSON is not a form: the guard does not read it (the webhook checks its signature)."""
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test"
    body = json.dumps({"id": "evt_1", "type": "x", "data": {"object": {"id": NUL}}})

    response = client.post(
        reverse("payments:stripe_webhook"),
        data=body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE="t=1,v1=bad",
    )

    assert response.status_code == 400
    assert b"a character we cannot accept" not in response.content


def test_a_form_posted_to_the_stripe_webhook_still_reaches_it(client, settings):
    """The webhook reads its raw body: the guard must not have parsed it as a form."""
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test"

    response = client.post(reverse("payments:stripe_webhook"), {"a": "b"})  # multipart

    assert response.status_code == 400


@pytest.mark.parametrize(
    "text, bad",
    [("plain", False), ("émoji 📚", False), ("a\x00b", True), ("\ud800", True), ("\udfff x", True)],
)
def test_unstorable_text_is_nul_or_a_lone_surrogate(text, bad):
    assert unstorable(text) is bad
