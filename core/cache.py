"""Django's Redis cache, reusing one client per connection pool.

Django's ``RedisCacheClient`` builds a new ``redis.Redis`` object for every
cache call; building one copies its ~170 response callbacks, about a third of
a millisecond each time, several times per page (session, page cache,
generations). The client is only a thin, thread-safe handle on the pool, so
one per pool does the same work without that cost.
"""

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache as DjangoRedisCache
from django.core.cache.backends.redis import RedisCacheClient


class ReusedRedisClient(RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class RedisCache(DjangoRedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = ReusedRedisClient

    def incr_or_create(self, key: str) -> int:
        """One atomic INCR: a missing key becomes 1 (and never expires). Django's
        ``add`` then ``incr`` is three round trips (SET NX, EXISTS, INCRBY); its
        serializer keeps integers as Redis integers, so ``get`` reads this back."""
        key = self.make_and_validate_key(key)
        return self._cache.get_client(key, write=True).incr(key)


def incr_or_create(key: str) -> int:
    """Add one to a counter that never expires, creating it at 1 when missing
    (generation numbers): one round trip on Redis, ``add``/``incr`` elsewhere."""
    backend = caches["default"]
    if isinstance(backend, RedisCache):
        return backend.incr_or_create(key)
    if cache.add(key, 1, timeout=None):
        return 1
    return cache.incr(key)


def add_to_counter(key: str, amount: int = 1, *, timeout=None) -> None:
    """Add ``amount`` to a counter in the cache, creating it (for ``timeout``) when it
    is missing: atomic whichever worker gets there first (statistics counted off
    the request path: book page views, downloads)."""
    try:
        cache.incr(key, amount)
    except ValueError:  # missing: never counted, expired, or flushed and deleted
        if not cache.add(key, amount, timeout=timeout):
            cache.incr(key, amount)  # another worker created it meanwhile
