from django.conf import settings
from django.core.cache import cache

from tests.conftest import require


def test_the_redis_cache_reuses_one_client_per_pool():
    require(bool(settings.REDIS_URL), "needs Redis (REDIS_URL)")
    client = cache._cache.get_client("a")
    cache.set("reuse", 1)
    assert cache.get("reuse") == 1
    assert cache._cache.get_client("b") is client
