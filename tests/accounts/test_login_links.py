"""One-time sign-in links (accounts.login_links and their pages)."""

import re
import time
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import signing
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.login_links import login_link_url, send_login_link
from accounts.models import UsedLoginLink
from accounts.services import account_for_email
from tests.concurrency import at_once
from tests.conftest import require
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

User = get_user_model()


@pytest.fixture
def guest():
    """A reader who bought with only an e-mail address."""
    user, _ = account_for_email("guest@example.com")
    return user


def signed_in_as(client):
    return client.session.get("_auth_user_id")


def test_opening_the_link_asks_to_confirm_and_signs_in_nobody(client, guest):
    url = login_link_url(guest, next_url="/library/")

    response = client.get(url)

    assert response.status_code == 200
    page = response.content.decode()
    assert "guest@example.com" in page
    assert 'method="post"' in page
    assert signed_in_as(client) is None
    assert UsedLoginLink.objects.count() == 0
    # A mail scanner fetching it twice leaves it working.
    assert client.get(url).status_code == 200


def test_pressing_sign_in_signs_in_verifies_and_goes_to_the_page(client, guest):
    url = login_link_url(guest, next_url="/library/?sort=title")

    response = client.post(url)

    assert response.status_code == 302
    assert response["Location"] == "/library/?sort=title"
    assert signed_in_as(client) == str(guest.pk)
    assert EmailAddress.objects.get(user=guest).verified is True


def test_a_reader_without_a_password_is_invited_to_set_one(client, guest):
    response = client.post(login_link_url(guest, next_url="/"), follow=True)

    page = response.content.decode()
    assert "Choose a password" in page
    assert reverse("account_set_password") in page

    response = client.get(reverse("account_set_password"))
    assert response.status_code == 200
    response = client.post(
        reverse("account_set_password"), {"password1": PASSWORD, "password2": PASSWORD}
    )
    assert response.status_code == 302
    guest.refresh_from_db()
    assert guest.check_password(PASSWORD)
    assert signed_in_as(client) == str(guest.pk)  # still signed in after setting it


def test_a_reader_with_a_password_is_not_asked_to_set_one(client):
    reader = UserFactory()

    response = client.post(login_link_url(reader, next_url="/"), follow=True)

    assert signed_in_as(client) == str(reader.pk)
    assert "Choose a password" not in response.content.decode()
    reader.refresh_from_db()
    assert reader.check_password(PASSWORD)  # a verified address keeps its password


def test_a_used_link_is_refused_in_a_second_tab_and_on_replay(client, guest):
    url = login_link_url(guest, next_url="/")
    client.post(url)

    other_tab = Client()
    response = other_tab.post(url)

    assert response.status_code == 410
    assert "has been used" in response.content.decode()
    assert signed_in_as(other_tab) is None
    assert other_tab.get(url).status_code == 410
    assert UsedLoginLink.objects.count() == 1


def test_the_link_is_single_use_even_when_the_sign_in_state_did_not_move(client, guest):
    """The used-token record alone refuses a replay (the last login is kept to the second)."""
    url = login_link_url(guest, next_url="/")
    client.post(url)
    User.objects.filter(pk=guest.pk).update(last_login=None)  # as if never signed in

    response = Client().post(url)

    assert response.status_code == 410


def test_signing_in_another_way_ends_links_sent_before(client):
    reader = UserFactory(email="reader@example.com")
    User.objects.filter(pk=reader.pk).update(last_login=timezone.now() - timedelta(hours=1))
    reader.refresh_from_db()
    url = login_link_url(reader, next_url="/")

    client.post(reverse("account_login"), {"login": reader.email, "password": PASSWORD})
    assert signed_in_as(client) == str(reader.pk)

    response = Client().post(url)
    assert response.status_code == 410


def test_changing_the_password_ends_links_sent_before():
    reader = UserFactory()
    url = login_link_url(reader, next_url="/")
    reader.set_password("a different one entirely")
    reader.save()

    response = Client().post(url)

    assert response.status_code == 410


def made_ago(monkeypatch, seconds):
    """Sign the next tokens as if it were ``seconds`` ago."""
    monkeypatch.setattr(
        signing.TimestampSigner,
        "timestamp",
        lambda self: signing.b62_encode(int(time.time()) - seconds),
    )


def test_an_expired_link_is_refused_and_offers_a_new_one(client, guest, settings, monkeypatch):
    settings.LOGIN_LINK_MAX_AGE = 3 * 86400
    made_ago(monkeypatch, 3 * 86400 + 5)
    url = login_link_url(guest, next_url="/checkout/")
    monkeypatch.undo()

    response = client.post(url)

    assert response.status_code == 410
    page = response.content.decode()
    assert "has expired" in page
    assert reverse("accounts:login_link_request") in page
    assert 'value="guest@example.com"' in page
    assert f'href="{reverse("account_login")}?next=/checkout/"' in page
    assert signed_in_as(client) is None


@pytest.mark.parametrize(
    "mangle",
    [
        lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),
        lambda token: token[:10],
        lambda token: "x" + token,
        lambda token: "..::..",
        lambda token: "A" * 3000,
    ],
)
def test_a_tampered_link_is_a_clear_page_not_a_500(client, guest, mangle):
    token = login_link_url(guest, next_url="/").rstrip("/").rsplit("/", 1)[1]
    url = reverse("accounts:login_link", args=["TOKEN"]).replace("TOKEN", mangle(token))

    for response in (client.get(url), client.post(url)):
        assert response.status_code == 400
        assert "not valid" in response.content.decode()
    assert signed_in_as(client) is None


def test_a_link_with_a_null_byte_is_refused_before_it_reaches_the_view(client):
    response = client.post("/accounts/link/%00%ff/")

    assert response.status_code == 400  # core.input_guard's page, never a 500


def test_a_link_for_a_deactivated_account_signs_in_nobody(client, guest):
    url = login_link_url(guest, next_url="/")
    User.objects.filter(pk=guest.pk).update(is_active=False)

    response = client.post(url)

    assert response.status_code in (400, 410)
    assert signed_in_as(client) is None


@pytest.mark.parametrize(
    "next_url", ["https://evil.example/", "//evil.example/", "javascript:alert(1)", ""]
)
def test_a_link_only_goes_to_pages_of_this_site(client, guest, next_url):
    response = client.post(login_link_url(guest, next_url=next_url))

    assert response.status_code == 302
    assert response["Location"] == reverse("home")


def test_signing_in_by_link_drops_a_password_set_by_someone_who_never_proved_the_address(client):
    """An account squatted in advance: its address was never verified, so its
    password is not the reader's; the link proves the address and the reader
    chooses their own."""
    squatter_browser = Client()
    squatted = UserFactory(email="victim@example.com", verified=False)
    EmailAddress.objects.create(user=squatted, email=squatted.email, primary=True, verified=False)
    squatter_browser.force_login(squatted)
    user, created = account_for_email("victim@example.com")
    assert (user, created) == (squatted, False)

    client.post(login_link_url(user, next_url="/"))

    user.refresh_from_db()
    assert not user.has_usable_password()
    assert signed_in_as(client) == str(user.pk)
    # The squatter's session ended with the password.
    assert squatter_browser.get(reverse("account")).status_code == 302


def test_two_tabs_pressing_sign_in_at_once_use_the_link_once(transactional_db):
    """PostgreSQL: the user row lock and the unique used-token row let one through."""
    require(connection.vendor == "postgresql", "row locks need PostgreSQL")
    guest, _ = account_for_email("twotabs@example.com")
    url = login_link_url(guest, next_url="/")

    def press():
        return Client().post(url).status_code

    statuses = at_once(press, press)

    assert sorted(statuses) == [302, 410]
    assert UsedLoginLink.objects.count() == 1


# --- Asking for a new link --------------------------------------------------


def request_link(client, email, next_url=""):
    return client.post(reverse("accounts:login_link_request"), {"email": email, "next": next_url})


def test_a_new_link_is_e_mailed_and_works(
    client, guest, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = request_link(client, "Guest@Example.com", "/checkout/?amount=12")

    assert response.status_code == 200
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["guest@example.com"]
    url = re.search(r"http://\S+/accounts/link/\S+/", message.body).group(0)
    assert url in message.alternatives[0][0]
    response = client.post(urlsplit(url).path)
    assert response["Location"] == "/checkout/?amount=12"


def test_asking_for_a_link_answers_alike_with_or_without_an_account(
    client, guest, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        known = request_link(client, "guest@example.com")
        unknown = request_link(client, "nobody@example.com")

    def page(response):
        return (
            response.content.decode()
            .replace("guest@example.com", "X")
            .replace("nobody@example.com", "X")
        )

    assert known.status_code == unknown.status_code == 200
    assert page(known) == page(unknown)
    assert [m.to for m in mailoutbox] == [["guest@example.com"]]


def test_a_bad_address_is_a_form_error(client, mailoutbox):
    response = request_link(client, "not an address")

    assert response.status_code == 200
    assert "Enter a valid email address." in response.content.decode()
    assert mailoutbox == []


def test_asking_for_links_is_rate_limited_per_address(client, guest, settings, mailoutbox):
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "login_link": "2/h/account"}

    statuses = [request_link(Client(), "guest@example.com").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]


def test_the_e_mail_says_when_the_account_is_new(
    guest, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send_login_link(guest, next_url="/", created=True)
        send_login_link(guest, next_url="/", created=False)

    new, existing = mailoutbox
    assert "Your new account" in new.body and "Your new account" in new.alternatives[0][0]
    assert "Your new account" not in existing.body
    assert new.subject == existing.subject == "Your sign-in link for Storefront"


def test_send_login_link_with_a_key_sends_once(
    guest, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send_login_link(guest, next_url="/library/", created=True, key="order:1:login-link")
        send_login_link(guest, next_url="/library/", created=True, key="order:1:login-link")

    assert len(mailoutbox) == 1


def test_the_login_page_offers_a_link_by_e_mail_that_comes_back(
    client, guest, mailoutbox, django_capture_on_commit_callbacks
):
    login_page = client.get(reverse("account_login"), {"next": "/checkout/x/?amount=3"})
    href = re.search(r'href="([^"]+)">e-mail me a sign-in link', login_page.content.decode())[1]
    form_page = client.get(href.replace("&amp;", "&"))
    assert 'value="/checkout/x/?amount=3"' in form_page.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        request_link(client, "guest@example.com", "/checkout/x/?amount=3")
    url = re.search(r"http://\S+/accounts/link/\S+/", mailoutbox[0].body)[0]

    assert client.post(urlsplit(url).path)["Location"] == "/checkout/x/?amount=3"


def test_the_confirmation_page_costs_a_fixed_number_of_queries(
    client, guest, django_assert_max_num_queries
):
    url = login_link_url(guest, next_url="/")

    with django_assert_max_num_queries(3):
        assert client.get(url).status_code == 200


def test_a_reader_already_signed_in_as_the_links_user_just_goes_to_its_page(client, guest):
    url = login_link_url(guest, next_url="/library/")
    client.post(url)

    for response in (client.get(url), client.post(url)):
        assert (response.status_code, response["Location"]) == (302, "/library/")


def test_someone_else_signed_in_gets_the_used_page(client, guest):
    url = login_link_url(guest, next_url="/library/")
    Client().post(url)
    client.force_login(UserFactory())

    assert client.post(url).status_code == 410
