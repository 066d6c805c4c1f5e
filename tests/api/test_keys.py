"""Personal API keys on the account page: created with a name and scopes, shown once,
stored hashed, revoked for good; every call logged under the key's name."""

import hashlib

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from api.models import ApiCall, ApiKey
from tests.api.conftest import api_client
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_an_author_creates_a_key_that_is_shown_once_and_stored_hashed(author, client):
    page = client.get(reverse("account"))
    assert reverse("api:keys") in page.content.decode()
    response = client.post(reverse("api:keys"), {"name": "CI", "scopes": ["publish", "read_sales"]})
    assert response.status_code == 200
    token = response.context["token"]
    assert token.startswith("sf_") and token in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    key = ApiKey.objects.get(user=author.user)
    assert key.name == "CI" and key.scopes == ["read_sales", "publish"]
    assert token not in str(key.__dict__)
    assert key.hashed_secret == hashlib.sha256(token.encode()).hexdigest()
    again = client.get(reverse("api:keys")).content.decode()
    assert token not in again and f"sf_{key.prefix}_" in again


def test_a_key_without_a_name_or_scope_is_refused(author, client):
    response = client.post(reverse("api:keys"), {"name": "", "scopes": []})
    assert response.status_code == 400
    assert not ApiKey.objects.exists()
    response = client.post(reverse("api:keys"), {"name": "x", "scopes": ["admin"]})
    assert response.status_code == 400 and not ApiKey.objects.exists()


def test_a_reader_without_an_author_profile_gets_no_keys(client):
    client.force_login(UserFactory())
    assert client.get(reverse("api:keys")).status_code == 403


def test_a_revoked_key_is_refused_with_a_problem(author, client):
    token = client.post(reverse("api:keys"), {"name": "CI", "scopes": ["read_sales"]}).context[
        "token"
    ]
    api = api_client(token)
    assert api.get("/api/v1/books").status_code == 200
    key = ApiKey.objects.get()
    client.post(reverse("api:key_revoke", args=[key.pk]))
    client.post(reverse("api:key_revoke", args=[key.pk]))  # a double click: still revoked
    response = api.get("/api/v1/books")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "This API key was revoked."
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_nobody_revokes_another_authors_key(author, client, key_for):
    other = AuthorFactory()
    key_for(other)
    key = ApiKey.objects.get(user=other.user)
    assert client.post(reverse("api:key_revoke", args=[key.pk])).status_code == 404
    key.refresh_from_db()
    assert key.is_active


def test_every_call_is_logged_with_the_keys_name(api, book, admin_client):
    api.get("/api/v1/books")
    api.get("/api/v1/books/nope")
    calls = list(ApiCall.objects.order_by("id").values_list("key_name", "path", "status"))
    assert calls == [("CI", "/api/v1/books", 200), ("CI", "/api/v1/books/nope", 404)]
    listing = admin_client.get(reverse("admin:api_apicall_changelist"))
    assert listing.status_code == 200 and "/api/v1/books/nope" in listing.content.decode()


def test_a_wrong_or_malformed_token_is_401(book):
    for header in ["Bearer sf_abc_def", "Bearer nonsense", "Bearer a b", "Bearer sf__x"]:
        client = api_client(None)
        response = client.get("/api/v1/books", HTTP_AUTHORIZATION=header)
        assert response.status_code == 401, header
        assert response.json()["status"] == 401


def test_session_cookies_do_not_open_the_api(author, client):
    response = client.get("/api/v1/books")
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"


def test_requests_over_the_keys_limit_get_429_with_retry_after(api, book, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "api": "3/m/account"}
    statuses = [api.get("/api/v1/books").status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    response = api.get("/api/v1/books")
    assert response.status_code == 429
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response.json()["title"] == "Too many requests"


def test_the_keys_page_costs_the_same_queries_with_1_or_10_keys(author, client, key_for):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("api:keys")).status_code == 200
        return len(ctx)

    key_for(author)
    queries()  # the first request also fills the session and user caches
    one = queries()
    for n in range(9):
        key_for(author, name=f"key {n}")
    assert queries() == one


def test_the_books_list_costs_the_same_queries_with_1_or_10_books(api, writer):
    def queries():
        with CaptureQueriesContext(connection) as ctx:
            assert api.get("/api/v1/books").status_code == 200
        return len(ctx)

    BookFactory(authors=[writer])
    queries()  # the key's first use of the minute also notes when it was used
    one = queries()
    for _ in range(9):
        BookFactory(authors=[writer])
    assert queries() == one
