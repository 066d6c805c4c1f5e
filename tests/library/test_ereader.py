"""Send to e-reader: an address verified by a code, then a book with one click."""

import io
import re
import uuid
import zipfile
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import EmailDelivery
from library import ereader
from library.models import EreaderAddress
from payments import refunds
from tests.factories import BookFactory, UserFactory
from tests.library.reading import FIRST, IMAGES, publish_epub
from tests.library.test_library import buy

pytestmark = pytest.mark.django_db

KINDLE = "reader_42@kindle.com"


@pytest.fixture
def book():
    book = BookFactory(slug="stack", title="Behind the Stack")
    publish_epub(book, "1.0", FIRST, images=IMAGES)
    return book


@pytest.fixture
def owner(client, book):
    user = UserFactory()
    user.order = buy(user, book)
    client.force_login(user)
    return user


def save(client, email=KINDLE):
    return client.post(reverse("library:ereader"), {"action": "save", "email": email})


def code_from_outbox(email=KINDLE) -> str:
    mail = EmailDelivery.objects.filter(to=email, key__startswith="ereader-code:").latest("pk")
    return re.search(r"\b(\d{6})\b", mail.body).group(1)


def verified(client, email=KINDLE):
    save(client, email)
    client.post(reverse("library:ereader"), {"action": "verify", "code": code_from_outbox(email)})


def send(client, book, token=None):
    return client.post(
        reverse("library:send_to_ereader", args=[book.slug]), {"token": str(token or uuid.uuid4())}
    )


def test_the_account_page_leads_to_the_ereader_page(client, owner):
    assert reverse("library:ereader") in client.get(reverse("account")).content.decode()


def test_an_address_is_verified_by_the_code_emailed_to_it(client, owner):
    assert save(client).status_code == 302
    mail = EmailDelivery.objects.get(to=KINDLE, key__startswith="ereader-code:")
    code = code_from_outbox()
    assert code in mail.subject and code in mail.html
    [attached] = mail.attachments  # the code as a document, for a Kindle's library
    assert attached["mimetype"] == "text/html"
    row = EreaderAddress.objects.get(user=owner)
    assert not row.is_verified and code not in row.code_digest
    page = client.get(reverse("library:ereader")).content.decode()
    assert "Confirm reader_42@kindle.com" in page and 'for="ereader-code"' in page

    client.post(reverse("library:ereader"), {"action": "verify", "code": code})
    assert EreaderAddress.objects.get(user=owner).is_verified
    assert "verified" in client.get(reverse("library:ereader")).content.decode()


def test_wrong_codes_are_limited_and_codes_expire(client, owner, settings):
    settings.EREADER_CODE_ATTEMPTS = 3
    save(client)
    code = code_from_outbox()
    wrong = "000000" if code != "000000" else "111111"
    for left in ("2 tries left", "1 try left"):
        response = client.post(reverse("library:ereader"), {"action": "verify", "code": wrong})
        assert response.status_code == 400 and left in response.content.decode()
    response = client.post(reverse("library:ereader"), {"action": "verify", "code": wrong})
    assert "Too many wrong codes" in response.content.decode()
    response = client.post(reverse("library:ereader"), {"action": "verify", "code": code})
    assert "Too many wrong codes" in response.content.decode()  # the right one no longer works
    assert not EreaderAddress.objects.get(user=owner).is_verified

    save(client)  # a new code
    EreaderAddress.objects.filter(user=owner).update(
        code_expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = client.post(
        reverse("library:ereader"), {"action": "verify", "code": code_from_outbox()}
    )
    assert "expired" in response.content.decode()
    assert not EreaderAddress.objects.get(user=owner).is_verified


def test_a_bad_address_is_a_clear_error(client, owner):
    response = save(client, "not an address")
    assert response.status_code == 400 and "valid e-mail address" in response.content.decode()
    assert not EreaderAddress.objects.exists()


def test_code_emails_are_rate_limited(client, owner, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ereader_code": "2/h/account"}
    save(client)
    save(client)
    assert save(client).status_code == 429
    assert EmailDelivery.objects.filter(key__startswith="ereader-code:").count() == 2


def test_one_click_sends_the_epub_once_even_when_clicked_twice(
    client, owner, book, django_capture_on_commit_callbacks, mailoutbox
):
    verified(client)
    entry = client.get(reverse("library:entry", args=[book.slug])).content.decode()
    token = re.search(r'name="token" value="([^"]+)"', entry).group(1)
    with django_capture_on_commit_callbacks(execute=True):
        first = send(client, book, token)
        second = send(client, book, token)  # the double click
    assert first.status_code == second.status_code == 302
    sent = [
        m
        for m in mailoutbox
        if m.to == [KINDLE] and m.attachments and "epub" in m.attachments[0][0]
    ]
    assert len(sent) == 1
    name, content, mimetype = sent[0].attachments[0]
    assert name == "stack-v1.0.epub" and mimetype == "application/epub+zip"
    with book.current_release.files.get(format="epub").file.open("rb") as f:
        assert content == f.read()
    # Sending is getting the file: the library no longer says "updated" for it.
    assert owner.entitlements.get().last_downloaded_release_id == book.current_release_id
    shown = client.get(first["Location"]).content.decode()
    assert "is on its way to reader_42@kindle.com" in shown
    assert "was sent to reader_42@kindle.com already" in shown  # the second click's answer


def test_a_file_too_large_for_email_is_refused_with_the_reason(client, owner, book, settings):
    verified(client)
    settings.EREADER_MAX_BYTES = 100
    response = send(client, book)
    page = client.get(response["Location"]).content.decode()
    assert "e-reader mail services take files up to" in page
    assert not EmailDelivery.objects.filter(key__startswith="ereader-send:").exists()


def test_an_unverified_address_gets_no_book(client, owner, book):
    save(client)
    response = send(client, book)
    assert "verify your e-reader" in client.get(response["Location"]).content.decode()
    assert not EmailDelivery.objects.filter(key__startswith="ereader-send:").exists()


def test_a_forged_token_is_refused_without_sending(client, owner, book):
    verified(client)
    response = client.post(reverse("library:send_to_ereader", args=[book.slug]), {"token": "x"})
    assert "reload the page" in client.get(response["Location"]).content.decode()
    assert not EmailDelivery.objects.filter(key__startswith="ereader-send:").exists()


@pytest.mark.parametrize("who", ["anonymous", "another reader", "refunded owner"])
def test_nobody_else_can_send_the_book(client, book, who):
    if who == "another reader":
        client.force_login(UserFactory())
        verified(client)
    elif who == "refunded owner":
        user = UserFactory()
        order = buy(user, book)
        client.force_login(user)
        verified(client)
        refunds.refund_order(order_id=order.pk, actor=user)
    response = send(client, book)
    if who == "anonymous":
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    else:
        assert response.status_code == 404
    assert not EmailDelivery.objects.filter(key__startswith="ereader-send:").exists()
    with pytest.raises(ereader.EreaderError):
        ereader.send_book(user=UserFactory(), book=book, token=str(uuid.uuid4()))


def test_sends_are_rate_limited(client, owner, book, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "ereader_send": "2/h/account"}
    verified(client)
    send(client, book)
    send(client, book)
    assert send(client, book).status_code == 429
    assert EmailDelivery.objects.filter(key__startswith="ereader-send:").count() == 2


def test_a_stamped_book_sends_the_readers_own_copy(
    client, owner, book, django_capture_on_commit_callbacks, mailoutbox
):
    """The unstamped file never reaches an owner of a stamped book, by mail either."""
    book.stamp_files = True
    book.save(update_fields=["stamp_files"])
    verified(client)
    with django_capture_on_commit_callbacks(execute=True):
        send(client, book)
    (sent,) = [m for m in mailoutbox if m.to == [KINDLE] and m.attachments]
    _name, content, _mimetype = sent.attachments[0]
    with book.current_release.files.get(format="epub").file.open("rb") as f:
        assert content != f.read()
    with zipfile.ZipFile(io.BytesIO(content)) as epub:
        text = "".join(epub.read(n).decode("utf-8", "replace") for n in epub.namelist())
    assert "Prepared for" in text and owner.email in text
