"""Who may call what: one row per API route, found from the URL resolver, so a new
route without a row fails here; every row is tried without a key, with a revoked key,
with each scope alone, and on another author's book. The OpenAPI schema covers every
route and generates without a warning."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import get_resolver
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

from api import keys
from catalog.models import Build
from tests.api.conftest import ALL_SCOPES, PDF, api_client, manuscript_zip
from tests.factories import AuthorFactory, BookFactory

pytestmark = pytest.mark.django_db

ANY_KEY = "any key"  # an author's key of any scope
PUBLIC = "public"

# route name -> {method: who may call it}
MATRIX = {
    "books": {"GET": ANY_KEY},
    "book": {"GET": ANY_KEY, "PATCH": "manage_books"},
    "releases": {"POST": "publish"},
    "release_publish": {"POST": "publish"},
    "preview": {"POST": "publish"},
    "publish": {"POST": "publish"},
    "build": {"GET": "publish"},
    "sales": {"GET": "read_sales"},
    "refunds": {"GET": "read_sales"},
    "earnings": {"GET": "read_sales"},
    "schema": {"GET": PUBLIC},
    "docs": {"GET": PUBLIC},
}


def api_patterns():
    """(route, pattern) of every URL pattern under /api/v1/ in the whole URLconf."""
    stack = [("", p) for p in get_resolver().url_patterns]
    while stack:
        prefix, pattern = stack.pop()
        route = prefix + str(pattern.pattern)
        if hasattr(pattern, "url_patterns"):
            stack += [(route, p) for p in pattern.url_patterns]
        elif route.startswith("api/v1/"):
            yield route, pattern


def api_routes() -> dict[str, set[str]]:
    """Every named API route and the methods its view answers."""
    routes = {}
    for _route, pattern in api_patterns():
        view = pattern.callback.cls
        routes[pattern.name] = {
            m.upper()
            for m in view.http_method_names
            if m not in ("options", "head") and hasattr(view, m)
        }
    return routes


def test_every_api_route_has_a_row_and_every_row_a_route():
    routes = api_routes()
    assert len(routes) >= 12
    assert {name: set(methods) for name, methods in MATRIX.items()} == routes


@pytest.fixture
def world(django_capture_on_commit_callbacks):
    """An author with a book, a release and a build; another author with theirs."""
    owner, stranger = AuthorFactory(), AuthorFactory()
    mine = BookFactory(authors=[owner], slug="mine")
    theirs = BookFactory(authors=[stranger], slug="theirs")
    objects = {}
    for book, author in ((mine, owner), (theirs, stranger)):
        client = api_client(keys.create_key(user=author.user, name="setup", scopes=ALL_SCOPES)[1])
        pdf = SimpleUploadedFile("a.pdf", PDF)
        release = client.post(
            f"/api/v1/books/{book.slug}/releases", {"version": "0.1", "pdf": pdf}
        ).json()
        build = Build.objects.create(book=book, kind="preview")
        objects[book.slug] = {"release_id": release["id"], "build_id": build.pk}
    return owner, objects


def request(client, name, method, slug, objects):
    paths = {
        "books": "/api/v1/books",
        "book": f"/api/v1/books/{slug}",
        "releases": f"/api/v1/books/{slug}/releases",
        "release_publish": f"/api/v1/books/{slug}/releases/{objects[slug]['release_id']}/publish",
        "preview": f"/api/v1/books/{slug}/preview",
        "publish": f"/api/v1/books/{slug}/publish",
        "build": f"/api/v1/books/{slug}/builds/{objects[slug]['build_id']}",
        "sales": "/api/v1/sales",
        "refunds": "/api/v1/refunds",
        "earnings": "/api/v1/earnings",
        "schema": "/api/v1/schema/",
        "docs": "/api/v1/docs/",
    }
    bodies = {
        ("book", "PATCH"): {"blurb": "Changed by the matrix"},
        ("releases", "POST"): {"version": "9.9", "pdf": SimpleUploadedFile("a.pdf", PDF)},
        ("publish", "POST"): {"manuscript": SimpleUploadedFile("b.zip", manuscript_zip())},
        ("preview", "POST"): {"manuscript": SimpleUploadedFile("b.zip", manuscript_zip())},
    }
    body = bodies.get((name, method))
    fmt = "json" if method == "PATCH" else "multipart"
    return getattr(client, method.lower())(paths[name], body, format=fmt if body else None)


BOOK_ROUTES = {"book", "releases", "release_publish", "preview", "publish", "build"}
CASES = [(name, method, who) for name, methods in MATRIX.items() for method, who in methods.items()]


@pytest.mark.parametrize(("name", "method", "who"), CASES)
def test_each_route_admits_exactly_the_keys_it_should(world, name, method, who):
    owner, objects = world
    no_key = request(api_client(None), name, method, "mine", objects)
    if who == PUBLIC:
        assert no_key.status_code == 200
        return
    assert no_key.status_code == 401
    assert no_key["Content-Type"] == "application/problem+json"

    revoked_token = keys.create_key(user=owner.user, name="old", scopes=ALL_SCOPES)[1]
    keys.revoke_key(user=owner.user, key_id=keys.key_for_token(revoked_token).pk)
    assert request(api_client(revoked_token), name, method, "mine", objects).status_code == 401

    for scope in ALL_SCOPES:
        token = keys.create_key(user=owner.user, name=scope, scopes=[scope])[1]
        response = request(api_client(token), name, method, "mine", objects)
        if who in (ANY_KEY, scope):
            assert response.status_code < 400, (scope, response.content)
        else:
            assert response.status_code == 403, (scope, response.content)
            assert response.json()["status"] == 403

    if name in BOOK_ROUTES:
        token = keys.create_key(user=owner.user, name="all", scopes=ALL_SCOPES)[1]
        response = request(api_client(token), name, method, "theirs", objects)
        assert response.status_code == 404, response.content


def route_templates() -> dict[str, set[str]]:
    """The non-public routes as OpenAPI spells them: books/{slug}/builds/{build_id}."""
    return {
        re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route.removeprefix("api/v1/")): set(
            MATRIX[pattern.name]
        )
        for route, pattern in api_patterns()
        if PUBLIC not in MATRIX[pattern.name].values()
    }


def test_the_schema_has_every_route_and_generates_without_warnings():
    GENERATOR_STATS.reset()
    schema = SchemaGenerator(api_version="v1").get_schema(request=None, public=True)
    assert not GENERATOR_STATS, f"{GENERATOR_STATS._warn_cache} {GENERATOR_STATS._error_cache}"
    documented = {(path, method.upper()) for path, ops in schema["paths"].items() for method in ops}
    routes = {
        (f"/api/v1/{route}", method)
        for route, methods in route_templates().items()
        for method in methods
    }
    assert documented == routes


def test_the_documentation_page_works_offline(client):
    page = client.get("/api/v1/docs/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "http://" not in html.replace("http://testserver", "") and "https://" not in html
    script = client.get("/api/v1/docs/?script=")
    assert script.status_code == 200 and "/api/v1/schema/" in script.content.decode()
    assert client.get("/api/v1/schema/").status_code == 200
