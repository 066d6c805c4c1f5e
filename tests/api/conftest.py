import io
import uuid
import zipfile

import pytest
from rest_framework.test import APIClient

from api import keys
from payments import services
from tests.factories import AuthorFactory, BookFactory, UserFactory

ALL_SCOPES = ["read_sales", "manage_books", "publish"]
PDF = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def manuscript_zip(title="Chapter one") -> bytes:
    """The same bytes on every call: ``writestr`` with a bare name stamps the current
    time (2-second steps), and two uploads built across a step are two different
    requests to an ``Idempotency-Key``."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in (
            ("Book.txt", "ch01.md\n"),
            ("ch01.md", f"# {title}\n\nSome words of the book.\n"),
        ):
            archive.writestr(zipfile.ZipInfo(name, date_time=(2026, 1, 1, 0, 0, 0)), text)
    return out.getvalue()


def api_client(token: str | None) -> APIClient:
    client = APIClient()
    if token:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def sell(book, price=1000):
    order = services.place_order(
        buyer=UserFactory(), book=book, amount_cents=price, checkout_token=uuid.uuid4()
    )
    services.mark_paid(order_id=order.pk, amount_cents=price)
    return order


@pytest.fixture
def writer():
    return AuthorFactory()


@pytest.fixture
def book(writer):
    return BookFactory(authors=[writer], slug="my-book")


@pytest.fixture
def key_for(db):
    def make(author, scopes=ALL_SCOPES, name="CI"):
        return keys.create_key(user=author.user, name=name, scopes=list(scopes))[1]

    return make


@pytest.fixture
def api(writer, key_for):
    """An API client holding a key of ``writer`` with every scope."""
    return api_client(key_for(writer))
