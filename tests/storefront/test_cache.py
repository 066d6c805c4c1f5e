from django.conf import settings
from django.core.cache import cache

from tests.conftest import require


def test_the_redis_cache_reuses_one_client_per_pool():
    require(bool(settings.REDIS_URL), "needs Redis (REDIS_URL)")
    client = cache._cache.get_client("a")
    cache.set("reuse", 1)
    assert cache.get("reuse") == 1
    assert cache._cache.get_client("b") is client


def test_a_generation_counts_up_in_one_round_trip_and_reads_back():
    """incr_or_create: a missing counter becomes 1, an existing one goes up by one,
    and ``get`` reads the number back (Redis: one INCR; elsewhere add/incr)."""
    from unittest import mock

    from core.cache import incr_or_create
    from core.pagecache import bump_generation, generation

    cache.delete("counter")
    assert incr_or_create("counter") == 1
    assert incr_or_create("counter") == 2
    assert cache.get("counter") == 2

    cache.delete("gen")
    bump_generation("gen")  # missing: past 1, the number a reader takes for a missing key
    assert generation("gen") == 2
    bump_generation("gen")
    assert generation("gen") == 3

    if settings.REDIS_URL:
        client = cache._cache.get_client("counter", write=True)
        with mock.patch.object(client, "execute_command", wraps=client.execute_command) as sent:
            incr_or_create("counter")
        assert [call.args[0] for call in sent.call_args_list] == ["INCRBY"]


def test_a_catalog_change_forgets_cached_pages_now_and_again_at_commit(
    db, django_capture_on_commit_callbacks
):
    """A page rendered while the change's transaction is open reads the data from
    before it under the number bumped by the save; the bump at commit makes that
    page stale too, so the change shows at once however the two interleave."""
    from core.pagecache import generation
    from tests.factories import CategoryFactory

    before = generation()
    with django_capture_on_commit_callbacks(execute=True):
        CategoryFactory()
        during = generation()
    assert during > before
    assert generation() > during
