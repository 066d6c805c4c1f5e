"""Sessions that bring the signed-in user's cached row in the same cache round trip.

The engine is Django's ``cached_db`` (sessions live in the database and are read
from the cache; logging out and password changes end them as before). A signed-in
request used to make two cache round trips one after the other: the session, then
the user it names (``accounts/backends.py``). Each worker remembers which user
each session it has read belongs to (a hint, at most ``MAX_HINTS`` sessions), so
the next request of that session reads both keys at once (``get_many``).

The hint is only a guess about which key to fetch: the user read with it is used
only when the session just read names that same user, and it is exactly the row
the backend would have read from the cache (the same key, forgotten the same way).
A session without a hint, or whose user is not in the cache, is read as before.
"""

from django.conf import settings
from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from django.core.cache import DEFAULT_CACHE_ALIAS

from . import backends

MAX_HINTS = 10_000
_hints: dict[str, str] = {}  # session key -> the user id its data names


class SessionStore(CachedDBStore):
    def load(self):
        backends.offer_cached_user(None)
        session_key = self.session_key  # a session missing from the database drops it
        user_id = _hints.get(session_key)
        data = None
        if user_id is not None and settings.SESSION_CACHE_ALIAS == DEFAULT_CACHE_ALIAS:
            user_key = backends.user_cache_key(user_id)
            try:
                found = self._cache.get_many([self.cache_key, user_key])
            except Exception:  # as cached_db: an unreadable key is a miss
                found = {}
            data = found.get(self.cache_key)
            if data is not None and data.get(SESSION_KEY) == user_id and user_key in found:
                backends.offer_cached_user(user_id, found[user_key])
        if data is None:
            data = super().load()
        _remember(session_key, data.get(SESSION_KEY))
        return data


def _remember(session_key: str, user_id: str | None) -> None:
    if user_id is None:
        _hints.pop(session_key, None)
        return
    if len(_hints) >= MAX_HINTS:
        _hints.clear()
    _hints[session_key] = user_id
