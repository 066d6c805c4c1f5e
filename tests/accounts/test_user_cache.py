"""The logged-in user comes from the cache, and every change to it shows at once."""

import pytest
from django.urls import reverse

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def log_in(client, user):
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302


def test_a_logged_in_request_does_not_query_the_user_again(client, django_assert_num_queries):
    log_in(client, UserFactory())
    client.get(reverse("library:index"))  # the user and the (empty) list are cached now

    with django_assert_num_queries(0):
        assert client.get(reverse("library:index")).status_code == 200


def test_a_deactivated_user_is_logged_out_at_once(client):
    user = UserFactory()
    log_in(client, user)
    assert client.get(reverse("library:index")).status_code == 200

    user.is_active = False
    user.save()

    response = client.get(reverse("library:index"))
    assert response.status_code == 302 and reverse("account_login") in response["Location"]


def test_a_password_change_elsewhere_ends_this_session(client):
    user = UserFactory()
    log_in(client, user)
    client.get(reverse("library:index"))

    user.set_password("another-long-password-42")
    user.save()

    assert client.get(reverse("library:index")).status_code == 302


def test_a_new_name_shows_at_once(client):
    user = UserFactory(name="Oldname")
    log_in(client, user)
    assert "Oldname" in client.get(reverse("account")).content.decode()

    user.name = "Newname"
    user.save()

    assert "Newname" in client.get(reverse("account")).content.decode()
