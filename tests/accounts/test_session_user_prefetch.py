"""accounts/sessions.py: a signed-in request reads its session and its cached user in
one cache round trip, and what it reads that way is never another user's nor stale."""

import pytest
from django.conf import settings
from django.core.cache import caches
from django.urls import reverse

from accounts import backends, sessions
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


def log_in(client, user):
    response = client.post(reverse("account_login"), {"login": user.email, "password": PASSWORD})
    assert response.status_code == 302
    return client.cookies[settings.SESSION_COOKIE_NAME].value


@pytest.fixture
def cache_calls(monkeypatch):
    """The keys of every cache read, one list per call."""
    calls = []
    inside = []
    cache = caches["default"]
    get, get_many = cache.get, cache.get_many

    def spy_get(key, *args, **kwargs):
        if not inside:  # locmem's get_many calls get for each key: one call still
            calls.append([key])
        return get(key, *args, **kwargs)

    def spy_get_many(keys, *args, **kwargs):
        calls.append(list(keys))
        inside.append(True)
        try:
            return get_many(keys, *args, **kwargs)
        finally:
            inside.pop()

    monkeypatch.setattr(cache, "get", spy_get)
    monkeypatch.setattr(cache, "get_many", spy_get_many)
    return calls


def test_the_session_and_the_user_come_in_one_round_trip(client, cache_calls):
    user = UserFactory()
    key = log_in(client, user)
    client.get(reverse("library:index"))  # the user is cached; the worker knows the session

    cache_calls.clear()
    assert client.get(reverse("account")).status_code == 200

    reads = [call for call in cache_calls if any("auth:user" in k or key in k for k in call)]
    assert reads == [[f"django.contrib.sessions.cached_db{key}", f"auth:user:{user.pk}"]]


def test_a_hint_naming_another_user_is_never_used(client):
    me, other = UserFactory(name="Myself"), UserFactory(name="Someoneelse")
    other_client = client_class_for(client)
    log_in(other_client, other)
    other_client.get(reverse("account"))  # the other user's row is cached
    key = log_in(client, me)
    sessions._hints[key] = str(other.pk)  # a wrong guess about this session

    page = client.get(reverse("account")).content.decode()

    assert "Myself" in page and "Someoneelse" not in page


def client_class_for(client):
    return type(client)()


def test_a_change_to_the_user_shows_on_the_next_request(client):
    user = UserFactory(name="Before", is_staff=False)
    log_in(client, user)
    client.get(reverse("account"))
    client.get(reverse("account"))  # read with the session now

    user.name = "After"
    user.save()

    assert "After" in client.get(reverse("account")).content.decode()


def test_an_offered_user_is_taken_once_and_withdrawn_when_the_user_changes():
    user = UserFactory(name="Fresh")
    backend = backends.ModelBackend()
    stale = type(user).objects.get(pk=user.pk)
    stale.name = "Stale"

    backends.offer_cached_user(str(user.pk), stale)
    assert backend.get_user(user.pk).name == "Stale"  # taken
    assert backend.get_user(user.pk).name == "Fresh"  # only once

    backends.offer_cached_user(str(user.pk), stale)
    backends.forget_user(user.pk)
    assert backend.get_user(user.pk).name == "Fresh"


def test_an_offer_for_another_user_is_not_taken():
    user, other = UserFactory(), UserFactory()
    backends.offer_cached_user(str(other.pk), other)

    assert backends.ModelBackend().get_user(user.pk).pk == user.pk


def test_the_hints_are_bounded(monkeypatch, client):
    monkeypatch.setattr(sessions, "MAX_HINTS", 2)
    sessions._hints.update({"a": "1", "b": "2"})
    log_in(client, UserFactory())
    client.get(reverse("account"))

    assert len(sessions._hints) <= 2


def test_after_logout_the_old_session_is_not_remembered(client):
    key = log_in(client, UserFactory())
    client.get(reverse("account"))
    assert key in sessions._hints

    client.post(reverse("account_logout"))

    client.cookies[settings.SESSION_COOKIE_NAME] = key
    response = client.get(reverse("library:index"))
    assert response.status_code == 302 and reverse("account_login") in response["Location"]
    assert key not in sessions._hints


def test_a_user_read_from_the_database_is_the_orm_s_row_and_only_while_they_may_log_in(
    django_assert_num_queries,
):
    user = UserFactory(name="Ada Reader")
    backend = backends.ModelBackend()
    caches["default"].delete(backends.user_cache_key(user.pk))
    with django_assert_num_queries(2):  # the row and the author flag, then cached
        loaded = backend.get_user(str(user.pk))
    assert loaded == user and loaded.name == "Ada Reader" and loaded.is_author is False
    assert loaded.password == user.password  # the session hash is checked against it
    with django_assert_num_queries(0):
        assert backend.get_user(user.pk) == user
    user.is_active = False
    user.save()  # forgets the cached row
    assert backend.get_user(user.pk) is None
    assert caches["default"].get(backends.user_cache_key(user.pk)) is None
    assert backend.get_user(user.pk + 1000) is None
    assert backend.get_user("not-an-id") is None
