import pytest
from django.conf import settings
from django.core.cache import cache

from storefront.pagecache import bump_generation, generations
from tests.conftest import require


def test_the_redis_cache_reuses_one_client_per_pool():
    require(bool(settings.REDIS_URL), "needs Redis (REDIS_URL)")
    client = cache._cache.get_client("a")
    cache.set("reuse", 1)
    assert cache.get("reuse") == 1
    assert cache._cache.get_client("b") is client


@pytest.mark.django_db
def test_generations_read_several_at_once_and_start_at_one():
    bump_generation("g:a")
    assert generations("g:a", "g:new") == [2, 1]
    bump_generation("g:new")
    assert generations("g:a", "g:new") == [2, 2]
