"""Consent between authors: co-authorship and translation links wait for a yes."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from catalog import invitations
from catalog.models import Book, BookAuthor, Invitation
from core.models import EmailDelivery
from tests.concurrency import at_once
from tests.conftest import require
from tests.factories import AuthorFactory, BookFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ada():
    return AuthorFactory(display_name="Ada Inviter")


@pytest.fixture
def book(ada):
    return BookFactory(title="Streams in Practice", authors=[ada])


def invite(client, book, email, share=30):
    return client.post(
        reverse("catalog:invite_coauthor", args=[book.slug]), {"email": email, "share": share}
    )


def invitation_to(email) -> Invitation:
    return Invitation.objects.get(email=email.lower())


def accept_url(invitation):
    return reverse("catalog:invitation_accept", args=[invitation.token])


def decline_url(invitation):
    return reverse("catalog:invitation_decline", args=[invitation.token])


def shares(book):
    return [(a.author.display_name, a.royalty_share) for a in book.authorships.all()]


# --- Co-authors ---------------------------------------------------------------


def test_an_invited_author_accepts_from_the_email_and_gets_the_share_the_inviter_offered(
    client, ada, book
):
    bea = AuthorFactory(display_name="Bea Invited")
    client.force_login(ada.user)

    response = invite(client, book, bea.user.email, share=30)

    assert response.status_code == 302
    assert shares(book) == [("Ada Inviter", 100)]  # nothing changes before she accepts
    mail = EmailDelivery.objects.get(to=bea.user.email)
    assert mail.subject == "Ada Inviter invites you to co-author Streams in Practice"
    invitation = invitation_to(bea.user.email)
    assert accept_url(invitation) in mail.body and decline_url(invitation) in mail.body

    client.force_login(bea.user)
    assert "Streams in Practice" in client.get(reverse("catalog:my_books")).content.decode()
    page = client.get(accept_url(invitation))
    assert page.status_code == 200 and "30% of its royalties" in page.content.decode()
    response = client.post(accept_url(invitation))

    assert response["Location"] == reverse("catalog:manage_book", args=[book.slug])
    assert shares(book) == [("Ada Inviter", 70), ("Bea Invited", 30)]
    invitation.refresh_from_db()
    assert (invitation.status, invitation.answered_by) == ("accepted", bea.user)


def test_declining_an_invitation_changes_nothing(client, ada, book):
    bea = AuthorFactory()
    invitation = invitations.invite_coauthor(book=book, by=ada.user, email=bea.user.email, share=20)
    client.force_login(bea.user)

    response = client.post(decline_url(invitation))

    assert response.status_code == 302
    assert shares(book) == [(ada.display_name, 100)]
    assert Invitation.objects.get().status == "declined"
    assert client.post(accept_url(invitation)).status_code == 410  # a used token
    assert shares(book) == [(ada.display_name, 100)]


def test_an_expired_invitation_says_so_and_changes_nothing(client, ada, book):
    bea = AuthorFactory()
    invitation = invitations.invite_coauthor(book=book, by=ada.user, email=bea.user.email, share=20)
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    client.force_login(bea.user)

    page = client.get(accept_url(invitation))
    response = client.post(accept_url(invitation))

    assert page.status_code == 410 and "This invitation has expired." in page.content.decode()
    assert response.status_code == 410 and "has expired" in response.content.decode()
    assert shares(book) == [(ada.display_name, 100)]
    assert Invitation.objects.get().status == "expired"
    assert "Invitations for you" not in client.get(reverse("catalog:my_books")).content.decode()


def test_invitations_expire_after_fourteen_days(ada, book):
    invitation = invitations.invite_coauthor(book=book, by=ada.user, email="x@example.com", share=5)
    assert invitation.expires_at - invitation.created_at == pytest.approx(
        timedelta(days=14), abs=timedelta(seconds=5)
    )


def test_the_inviter_can_cancel_a_pending_invitation(client, ada, book):
    bea = AuthorFactory()
    invitation = invitations.invite_coauthor(book=book, by=ada.user, email=bea.user.email, share=20)
    client.force_login(ada.user)
    assert (
        bea.user.email
        in client.get(reverse("catalog:book_coauthors", args=[book.slug])).content.decode()
    )

    response = client.post(
        reverse("catalog:invitation_cancel", args=[book.slug, invitation.pk]), follow=True
    )

    assert "The invitation is cancelled." in response.content.decode()
    client.force_login(bea.user)
    refused = client.post(accept_url(invitation))
    assert refused.status_code == 410
    assert "This invitation was cancelled already." in refused.content.decode()
    assert shares(book) == [(ada.display_name, 100)]


def test_only_the_invited_account_can_accept(client, ada, book):
    bea, mallory = AuthorFactory(), AuthorFactory()
    invitation = invitations.invite_coauthor(book=book, by=ada.user, email=bea.user.email, share=20)

    for intruder in (mallory.user, ada.user, UserFactory()):
        client.force_login(intruder)
        for url in (accept_url(invitation), decline_url(invitation)):
            response = client.post(url)
            assert response.status_code == 403
            assert "sent to another account" in response.content.decode()
            assert book.title not in response.content.decode()  # nothing about it leaks
    assert shares(book) == [(ada.display_name, 100)]
    assert Invitation.objects.get().status == "pending"


def test_an_address_that_is_not_verified_on_the_account_cannot_accept(client, ada, book):
    unverified = UserFactory(verified=False)
    AuthorFactory(user=unverified)
    invitation = invitations.invite_coauthor(
        book=book, by=ada.user, email=unverified.email, share=20
    )
    client.force_login(unverified)

    assert client.post(accept_url(invitation)).status_code == 403
    assert BookAuthor.objects.filter(author__user=unverified).count() == 0


def test_a_reader_invited_is_asked_to_create_an_author_profile_then_can_accept(client, ada, book):
    reader = UserFactory()
    invitation = invitations.invite_coauthor(book=book, by=ada.user, email=reader.email, share=25)
    client.force_login(reader)

    page = client.get(accept_url(invitation))
    refused = client.post(accept_url(invitation))

    assert "Create your author profile" in page.content.decode()
    assert refused.status_code == 409 and shares(book) == [(ada.display_name, 100)]
    client.post(reverse("catalog:author_profile"), {"display_name": "Rea Der", "bio": ""})
    assert client.post(accept_url(invitation)).status_code == 302
    assert shares(book) == [(ada.display_name, 75), ("Rea Der", 25)]


def normalised(html: str, email: str) -> str:
    """The page with what differs by design taken out: the address typed, the row's
    id in its cancel link and the per-render CSRF token."""
    html = html.replace(email, "ADDRESS")
    html = re.sub(r"/invitations/\d+/cancel/", "/invitations/ID/cancel/", html)
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", html)


def test_the_invite_form_answers_alike_for_an_author_a_reader_and_an_unknown_address(
    client, ada, book
):
    """The inviter must not learn whether an address has an account or is an author's."""
    addresses = {
        "author": AuthorFactory().user.email,
        "reader": UserFactory().email,
        "unknown": "nobody-yet@example.com",
    }
    client.force_login(ada.user)
    answers = {}
    for kind, email in addresses.items():
        response = invite(client, book, email, share=10)
        page = client.get(response["Location"])
        Invitation.objects.filter(email=email).update(status="cancelled")  # so the pages match
        answers[kind] = (
            response.status_code,
            response["Location"],
            normalised(page.content.decode(), email),
        )
        assert EmailDelivery.objects.filter(to=email).count() == 1, kind

    assert answers["author"] == answers["reader"] == answers["unknown"]
    assert "If this address belongs to an author" in answers["unknown"][2]
    assert shares(book) == [(ada.display_name, 100)]


def test_an_offer_beyond_the_inviters_own_share_is_refused(client, ada, book):
    client.force_login(ada.user)
    invite(client, book, "first@example.com", share=60)

    response = invite(client, book, "second@example.com", share=40)

    assert response.status_code == 200
    assert "you can offer at most 39%" in response.content.decode()
    assert not Invitation.objects.filter(email="second@example.com").exists()


def test_shares_changed_since_the_invitation_are_a_clear_message(client, ada, book):
    partner = AuthorFactory()
    bea = AuthorFactory()
    invitation = invitations.invite_coauthor(book=book, by=ada.user, email=bea.user.email, share=50)
    BookAuthor.objects.filter(book=book).update(royalty_share=40)
    BookAuthor.objects.create(book=book, author=partner, royalty_share=60, position=1)
    client.force_login(bea.user)

    response = client.post(accept_url(invitation))

    assert response.status_code == 409
    assert "royalty shares changed" in response.content.decode()
    assert sum(a.royalty_share for a in book.authorships.all()) == 100
    assert not book.authorships.filter(author=bea).exists()


def test_accepting_twice_makes_one_authorship(client, ada, book):
    bea = AuthorFactory()
    invitation = invitations.invite_coauthor(book=book, by=ada.user, email=bea.user.email, share=20)
    client.force_login(bea.user)

    first, second = client.post(accept_url(invitation)), client.post(accept_url(invitation))

    assert first.status_code == second.status_code == 302
    assert shares(book) == [(ada.display_name, 80), (bea.display_name, 20)]


def test_a_double_click_on_accept_makes_one_authorship(transactional_db):
    """PostgreSQL: both requests lock the invitation; the second finds it accepted."""
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    ada, bea = AuthorFactory(), AuthorFactory()
    book = BookFactory(authors=[ada])
    invitation = invitations.invite_coauthor(book=book, by=ada.user, email=bea.user.email, share=20)

    def click():
        browser = Client()
        browser.force_login(bea.user)
        return browser.post(accept_url(invitation)).status_code

    statuses = at_once(click, click)

    assert statuses == [302, 302]
    assert [(a.author, a.royalty_share) for a in book.authorships.all()] == [(ada, 80), (bea, 20)]


# --- Translations -------------------------------------------------------------


def book_data(book, **changes):
    data = {
        "title": book.title,
        "language": book.language,
        "status": book.status,
        "minimum_price": "9.99",
        "suggested_price": "19.99",
        "installments_completed": 0,
        "installments_planned": 0,
    }
    return {**data, **changes}


def test_a_translation_of_another_authors_book_waits_for_one_of_its_authors(client, ada):
    original = BookFactory(title="A Evolução", language="pt-br")
    owner, co_owner = original.author_list[0], AuthorFactory()
    BookAuthor.objects.create(book=original, author=co_owner, royalty_share=1, position=1)
    translation = BookFactory(title="The Evolution", authors=[ada])
    client.force_login(ada.user)

    response = client.post(
        reverse("catalog:book_edit", args=[translation.slug]),
        book_data(translation, translation_of=original.pk),
        follow=True,
    )

    assert "once one of its authors accepts" in response.content.decode()
    translation.refresh_from_db()
    assert translation.translation_of is None
    assert "The Evolution" not in client.get(original.get_absolute_url()).content.decode()
    assert "A Evolução" not in client.get(translation.get_absolute_url()).content.decode()
    assert sorted(EmailDelivery.objects.values_list("to", flat=True)) == sorted(
        [owner.user.email, co_owner.user.email]
    )
    invitation = Invitation.objects.get(kind="translation")

    client.force_login(co_owner.user)
    assert "Invitations for you" in client.get(reverse("catalog:my_books")).content.decode()
    assert client.post(accept_url(invitation)).status_code == 302

    translation.refresh_from_db()
    assert translation.translation_of == original
    client.logout()
    assert "The Evolution" in client.get(original.get_absolute_url()).content.decode()


def test_a_declined_translation_link_never_shows(client, ada):
    original = BookFactory(title="Das Original")
    translation = BookFactory(title="The Copy", authors=[ada])
    invitation = invitations.propose_translation(book=translation, original=original, by=ada.user)
    client.force_login(original.author_list[0].user)

    client.post(decline_url(invitation))

    translation.refresh_from_db()
    assert translation.translation_of is None
    assert "The Copy" not in client.get(original.get_absolute_url()).content.decode()


def test_only_the_original_books_authors_can_accept_a_translation_link(client, ada):
    original = BookFactory()
    translation = BookFactory(authors=[ada])
    invitation = invitations.propose_translation(book=translation, original=original, by=ada.user)

    for intruder in (ada.user, AuthorFactory().user):
        client.force_login(intruder)
        assert client.post(accept_url(invitation)).status_code == 403
    translation.refresh_from_db()
    assert translation.translation_of is None


def test_linking_a_translation_to_your_own_book_needs_no_acceptance(client, ada):
    original = BookFactory(title="Mein Buch", language="de", authors=[ada])
    client.force_login(ada.user)

    response = client.post(
        reverse("catalog:book_create"),
        {**book_data(original, title="My Book", language="en"), "translation_of": original.pk},
    )

    assert response.status_code == 302
    assert Book.objects.get(title="My Book").translation_of == original
    assert not Invitation.objects.exists() and not EmailDelivery.objects.exists()
    assert "My Book" in client.get(original.get_absolute_url()).content.decode()


def test_editing_other_details_keeps_a_waiting_translation_link(client, ada):
    original = BookFactory()
    translation = BookFactory(authors=[ada])
    invitations.propose_translation(book=translation, original=original, by=ada.user)
    client.force_login(ada.user)

    client.post(
        reverse("catalog:book_edit", args=[translation.slug]),
        book_data(translation, title="Renamed"),
    )

    assert Invitation.objects.get().status == "pending"
    translation.refresh_from_db()
    assert (translation.title, translation.translation_of) == ("Renamed", None)


def test_an_accepted_translation_link_stays_until_a_new_one_is_accepted(client, ada):
    first, second = BookFactory(title="Erstes Original"), BookFactory(title="Zweites Original")
    translation = BookFactory(authors=[ada], translation_of=first)
    client.force_login(ada.user)

    client.post(
        reverse("catalog:book_edit", args=[translation.slug]),
        book_data(translation, translation_of=second.pk),
    )

    translation.refresh_from_db()
    assert translation.translation_of == first
    assert Invitation.objects.get().original == second
