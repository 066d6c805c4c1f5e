"""Authentication backends that read the logged-in user from the cache.

Every logged-in request loads its user by primary key; for a page otherwise
served from the cache (the library) that query was the largest part left. The
user row is cached for USER_CACHE_SECONDS and forgotten whenever it is saved or
deleted, now and again when the transaction commits (so a request that read the
old row in between cannot put it back). Users change through ``save()``
(admin, allauth, password changes, ``update_last_login``); a bulk
``QuerySet.update()`` of users must call ``forget_user`` itself.

Whether the user may log in (``is_active``) and the session's password hash are
checked on the cached row exactly as on a fresh one.

Whether the user is an author (the header's author links) is read once, when the
row is cached, and kept as a flag on it (``User.is_author``), so no page pays a
query for it; the catalog forgets the user when their author profile is created
or deleted. The profile itself is not cached with the user: views read it fresh.

The session engine (``accounts/sessions.py``) may have read the cached row
already, in the same round trip as the session: it offers it here
(``offer_cached_user``) and the next ``get_user`` for that user takes it instead of
reading the cache again. An offer is taken once, replaced by every session read
and withdrawn whenever a user is forgotten, so it never outlives the request
that read it nor a change to the user.
"""

import contextvars

from allauth.account.auth_backends import AuthenticationBackend as AllauthBackend
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend as DjangoModelBackend
from django.core.cache import cache
from django.db import transaction

from core.compiled import CompiledQuery

USER_CACHE_SECONDS = 300


def user_cache_key(user_id) -> str:
    return f"auth:user:{user_id}"


# (user id as the session holds it, the cached row) read along with the session.
_offered: contextvars.ContextVar[tuple[str, object] | None] = contextvars.ContextVar(
    "accounts_offered_user", default=None
)


def offer_cached_user(user_id, user=None) -> None:
    """The cached row of ``user_id``, just read with the session (None: no offer)."""
    _offered.set(None if user_id is None else (str(user_id), user))


def _take_offered(user_id):
    offered = _offered.get()
    if offered is None:
        return None
    _offered.set(None)
    return offered[1] if offered[0] == str(user_id) else None


def forget_user(user_id) -> None:
    _offered.set(None)
    cache.delete(user_cache_key(user_id))
    transaction.on_commit(lambda: cache.delete(user_cache_key(user_id)), robust=True)


def _author_profile_of(user_id):
    # The catalog's Author, through the reverse relation: accounts imports no catalog.
    author = get_user_model()._meta.get_field("author_profile").related_model
    return author.objects.filter(user_id=user_id).values_list("pk")[:1]


_AUTHOR_PROFILE = CompiledQuery(_author_profile_of, arity=1)  # each session's first request


def remember_is_author(user) -> None:
    """Store whether ``user`` has an author profile as a plain flag (one query),
    dropping the profile row itself so the cached user never holds a stale one."""
    user.__dict__["_is_author"] = bool(_AUTHOR_PROFILE.rows(user.pk))
    user._state.fields_cache.pop("author_profile", None)


def _user_of(user_id):
    return get_user_model()._default_manager.filter(pk=user_id)


# A session's first request, and every request after the row changed (a sign-in
# saves last_login): compiled once (core.compiled).
_USER = CompiledQuery(_user_of, arity=1)


def _load_user(user_id):
    """The user row of the session's ``user_id`` (ModelBackend's query), or None."""
    try:
        pk = int(user_id)
    except (TypeError, ValueError):
        return None
    found = _USER.objects(pk)
    return found[0] if found else None


class CachedUserMixin:
    def get_user(self, user_id):
        user = _take_offered(user_id)
        if user is None:
            user = cache.get(user_cache_key(user_id))
        if user is None:
            user = _load_user(user_id)
            if user is None or not self.user_can_authenticate(user):
                return None
            remember_is_author(user)
            cache.set(user_cache_key(user_id), user, USER_CACHE_SECONDS)
            return user
        return user if self.user_can_authenticate(user) else None


class ModelBackend(CachedUserMixin, DjangoModelBackend):
    pass


class AuthenticationBackend(CachedUserMixin, AllauthBackend):
    pass
