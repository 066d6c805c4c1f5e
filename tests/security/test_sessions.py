"""Sessions: a new key at login, nothing left on the server after logout, safe cookies."""

import pytest
from django.conf import settings
from django.contrib.sessions.backends.cached_db import SessionStore
from django.contrib.sessions.models import Session
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def log_in(client, email):
    response = client.post(reverse("account_login"), {"login": email, "password": PASSWORD})
    assert response.status_code == 302
    return client.cookies[settings.SESSION_COOKIE_NAME].value


def test_logging_in_gives_the_session_a_new_key(client):
    UserFactory(email="fixation@example.com")
    client.get(reverse("account_login"))
    client.session["planted"] = True  # a session an attacker could have planted
    client.session.save()
    before = client.session.session_key

    after = log_in(client, "fixation@example.com")

    assert after != before
    assert not Session.objects.filter(session_key=before).exists()


def test_logging_out_ends_the_session_on_the_server_too(client):
    UserFactory(email="leaver@example.com")
    key = log_in(client, "leaver@example.com")
    assert SessionStore(session_key=key).get("_auth_user_id")

    client.post(reverse("account_logout"))

    # Neither the database nor the cache in front of it still knows the old key,
    # so a copied cookie is worth nothing.
    assert not Session.objects.filter(session_key=key).exists()
    assert SessionStore(session_key=key).load() == {}
    client.cookies[settings.SESSION_COOKIE_NAME] = key
    response = client.get(reverse("library:index"))
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_a_logged_in_page_reads_the_session_from_the_cache(client, django_assert_max_num_queries):
    UserFactory(email="quick@example.com")
    log_in(client, "quick@example.com")
    client.get(reverse("account"))

    with django_assert_max_num_queries(0) as queries:
        SessionStore(session_key=client.cookies[settings.SESSION_COOKIE_NAME].value).load()
    assert not queries.captured_queries
