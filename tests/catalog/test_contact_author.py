"""E-mail the author: one e-mail through the outbox, the address never shown,
rate limited, refused for blocked senders and when the author turned it off."""

import re
import uuid

import pytest
from django.core import mail
from django.urls import reverse

from catalog import contact
from catalog.models import Author, BlockedSender
from core.models import EmailDelivery
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db

MESSAGE = "Loved chapter 3. Will there be a sequel?"


@pytest.fixture
def author():
    return AuthorFactory(display_name="Ada Writer", user__email="ada.secret@example.com")


@pytest.fixture
def book(author):
    return BookFactory(title="Engines", authors=[author])


@pytest.fixture
def reader(client):
    user = UserFactory(name="Rita Reader", email="rita@example.com")
    client.force_login(user)
    return user


def send(client, author, book=None, token=None, message=MESSAGE):
    data = {"author": author.slug, "token": str(token or uuid.uuid4()), "message": message}
    if book:
        data["book"] = book.slug
    return client.post(reverse("catalog:contact_author"), data)


def test_the_message_reaches_the_author_once_without_showing_their_address(
    client, reader, author, book, django_capture_on_commit_callbacks
):
    page = client.get(book.get_absolute_url()).content.decode()
    assert "E-mail the author" in page
    assert author.user.email not in page
    assert author.user.email not in client.get(author.get_absolute_url()).content.decode()

    token = uuid.uuid4()
    with django_capture_on_commit_callbacks(execute=True):
        response = send(client, author, book, token=token)
        send(client, author, book, token=token)  # a double click
    assert response.status_code == 302 and response.url == book.get_absolute_url()
    followed = client.get(response.url).content.decode()
    assert "Your message is on its way to Ada Writer" in followed
    assert author.user.email not in followed

    assert EmailDelivery.objects.count() == 1
    assert len(mail.outbox) == 1
    sent = mail.outbox[0]
    assert sent.to == ["ada.secret@example.com"]
    assert sent.extra_headers["Reply-To"] == "rita@example.com"
    assert sent.subject == "Rita Reader wrote to you about Engines"
    assert MESSAGE in sent.body
    html = sent.alternatives[0][0]
    assert "Loved chapter 3" in html
    block_link = re.search(r"http://\S+/author/messages/block/\S+/", sent.body).group(0)
    assert block_link in html


def test_anonymous_visitors_are_asked_to_log_in(client, author, book):
    page = client.get(book.get_absolute_url()).content.decode()
    assert "Log in</a> to write to Ada Writer" in page
    assert "<textarea" not in page.split("contact-author")[1]
    response = send(client, author, book)
    assert response.status_code == 302 and "/accounts/login/" in response.url
    assert not EmailDelivery.objects.exists()


def test_the_author_page_has_the_form_too(client, reader, author, book):
    page = client.get(author.get_absolute_url()).content.decode()
    assert 'action="/contact-author/"' in page
    assert f'name="author" value="{author.slug}"' in page
    send(client, author)
    delivery = EmailDelivery.objects.get()
    assert delivery.subject == "Rita Reader wrote to you"


def test_a_book_with_two_authors_lets_the_reader_choose(client, reader, author):
    other = AuthorFactory(display_name="Bob Coauthor")
    book = BookFactory(authors=[author, other])
    page = client.get(book.get_absolute_url()).content.decode()
    assert f'<option value="{other.slug}">Bob Coauthor</option>' in page
    send(client, other, book)
    assert EmailDelivery.objects.get().to == other.user.email


def test_messages_are_rate_limited(client, reader, author, book, settings):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "contact_author": "2/h/account"}
    assert send(client, author, book).status_code == 302
    assert send(client, author, book).status_code == 302
    response = send(client, author, book)
    assert response.status_code == 429
    assert EmailDelivery.objects.count() == 2


def test_a_blocked_sender_is_refused(client, reader, author, book):
    send(client, author, book)
    body = EmailDelivery.objects.get().body
    block_path = re.search(r"/author/messages/block/\S+/", body).group(0)

    # Only the author the link was made for may use it.
    client.force_login(AuthorFactory().user)
    assert client.post(block_path).status_code == 403
    client.force_login(author.user)
    confirm = client.get(block_path)
    assert "Block Rita Reader?" in confirm.content.decode()
    assert not BlockedSender.objects.exists()
    assert client.post(block_path).status_code == 302
    assert BlockedSender.objects.filter(author=author, user=reader).exists()
    assert "Rita Reader" in client.get(reverse("catalog:blocked_senders")).content.decode()

    client.force_login(reader)
    response = send(client, author, book)
    assert response.status_code == 403
    assert "does not take messages from your account" in response.content.decode()
    assert EmailDelivery.objects.count() == 1

    client.force_login(author.user)
    client.post(reverse("catalog:unblock_sender", args=[reader.pk]))
    client.force_login(reader)
    assert send(client, author, book).status_code == 302
    assert EmailDelivery.objects.count() == 2


def test_a_forged_block_link_is_a_404(client, author):
    client.force_login(author.user)
    assert client.get("/author/messages/block/not-a-token/").status_code == 404


def test_the_author_can_turn_messages_off(client, reader, author, book):
    client.force_login(author.user)
    response = client.post(
        reverse("catalog:author_profile"),
        {"display_name": "Ada Writer", "bio": "Writes.", "accepts_messages": ""},
    )
    assert response.status_code == 302
    assert Author.objects.get(pk=author.pk).accepts_messages is False

    client.force_login(reader)
    assert "E-mail the author" not in client.get(book.get_absolute_url()).content.decode()
    assert "E-mail the author" not in client.get(author.get_absolute_url()).content.decode()
    response = send(client, author, book)
    assert response.status_code == 403
    assert "does not take messages" in response.content.decode()
    assert not EmailDelivery.objects.exists()


def test_an_unverified_sender_is_refused(client, author, book):
    client.force_login(UserFactory(verified=False))
    assert send(client, author, book).status_code == 403
    assert not EmailDelivery.objects.exists()


def test_bad_input_is_a_form_error(client, reader, author, book):
    response = send(client, author, book, message="hi")
    assert response.status_code == 400
    assert "at least 10 characters" in response.content.decode()
    response = client.post(
        reverse("catalog:contact_author"),
        {"author": "nobody", "token": str(uuid.uuid4()), "message": MESSAGE},
    )
    assert response.status_code == 400
    assert not EmailDelivery.objects.exists()


def test_an_author_is_not_offered_to_write_to_themselves(client, author, book):
    client.force_login(author.user)
    assert "E-mail the author" not in client.get(book.get_absolute_url()).content.decode()
    with pytest.raises(contact.ContactRefused):
        contact.send_message(sender=author.user, author=author, message=MESSAGE, token=uuid.uuid4())
