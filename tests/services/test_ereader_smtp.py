"""Send to e-reader over a real SMTP server: the code, then the book attached."""

import re
import uuid

import pytest
from django.core.files.storage import storages

from core.models import EmailDelivery
from library import ereader
from library.models import EreaderAddress
from tests.factories import BookFactory, UserFactory
from tests.library.reading import FIRST, IMAGES, publish_epub
from tests.library.test_library import buy

pytestmark = [pytest.mark.services, pytest.mark.django_db(transaction=True)]


def test_the_code_and_the_book_arrive_with_their_attachments(smtp_server):
    reader = UserFactory()
    book = BookFactory(slug="kindle-book")
    publish_epub(book, "1.0", FIRST, images=IMAGES)
    buy(reader, book)

    smtp_server.wait_for(1)  # the receipt
    ereader.save_address(user=reader, email="me@kindle.com")
    smtp_server.wait_for(2)
    [code_mail] = smtp_server.messages_to("me@kindle.com")
    code = re.search(r"\b(\d{6})\b", code_mail.subject).group(1)
    [document] = list(code_mail.message.iter_attachments())
    assert code in document.get_content()
    ereader.verify(user=reader, code=code)

    token = str(uuid.uuid4())
    assert ereader.send_book(user=reader, book=book, token=token)
    assert not ereader.send_book(user=reader, book=book, token=token)  # a replayed click
    smtp_server.wait_for(3)
    book_mail = smtp_server.messages_to("me@kindle.com")[1]
    assert book_mail.recipients == ["me@kindle.com"]
    [epub] = list(book_mail.message.iter_attachments())
    assert epub.get_filename() == "kindle-book-v1.0.epub"
    assert epub.get_content_type() == "application/epub+zip"
    name = book.current_release.files.get(format="epub").file.name
    with storages["private"].open(name, "rb") as f:
        assert epub.get_content() == f.read()
    assert len(smtp_server.messages_to("me@kindle.com")) == 2
    sent = EmailDelivery.objects.get(key__startswith="ereader-send:")
    assert sent.status == EmailDelivery.Status.SENT


def test_a_book_whose_file_is_gone_is_given_up_not_retried(smtp_server):
    reader = UserFactory()
    book = BookFactory()
    publish_epub(book, "1.0", FIRST, images=IMAGES)
    buy(reader, book)
    EreaderAddress.objects.create(
        user=reader, email="me@kindle.com", verified_at="2026-01-01T00:00:00Z"
    )
    release_file = book.current_release.files.get(format="epub")
    storages["private"].delete(release_file.file.name)
    ereader.send_book(user=reader, book=book, token=str(uuid.uuid4()))
    delivery = EmailDelivery.objects.get(key__startswith="ereader-send:")
    assert delivery.status == EmailDelivery.Status.FAILED and "gone" in delivery.last_error
    assert smtp_server.messages_to("me@kindle.com") == []
