"""The Celery broker's Redis transport publishes through one client per pool
(core/broker.py), and still delivers."""

import os
import uuid

from django.conf import settings
from kombu import Connection

from tests.conftest import require


def _redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    require(url.startswith("redis://"), "needs Redis (REDIS_URL=redis://...)")
    return url


def test_a_redis_broker_uses_the_store_transport():
    _redis_url()
    assert settings.CELERY_BROKER_TRANSPORT == "core.broker:Transport"


def test_publishing_reuses_one_client_per_pool_and_delivers():
    with Connection(_redis_url(), transport="core.broker:Transport") as connection:
        channel = connection.default_channel
        first = channel._create_client()
        assert channel._create_client() is first
        assert channel._create_client(asynchronous=True) is not first  # the consumer's own

        channel._pool = None  # kombu drops its pool after a fork or a lost connection
        fresh = channel._create_client()
        assert fresh is not first and fresh.connection_pool is channel.pool

        name = f"storefront-test-broker-{uuid.uuid4().hex[:8]}"
        queue = connection.SimpleQueue(name)
        try:
            queue.put({"n": 1})
            queue.put({"n": 2})
            received = [queue.get(timeout=5), queue.get(timeout=5)]
            for message in received:
                message.ack()
            assert [m.payload for m in received] == [{"n": 1}, {"n": 2}]
        finally:
            queue.clear()
            queue.close()
