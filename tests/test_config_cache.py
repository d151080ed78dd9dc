"""The demo project's Redis cache: Django's, with one client per connection pool."""

from __future__ import annotations

import pytest

from config.cache import PooledRedisCache
from recommendations.counters import ATOMIC_CACHES

pytestmark = pytest.mark.redis

LOCATION = "redis://127.0.0.1:6379/14"


@pytest.fixture
def redis_cache():
    cache = PooledRedisCache(LOCATION, {"KEY_PREFIX": "config-cache-test"})
    cache.clear()
    yield cache
    cache.clear()


def test_every_operation_of_one_pool_uses_one_client(redis_cache):
    first = redis_cache._cache.get_client("a")
    assert redis_cache._cache.get_client("b", write=True) is first


def test_values_round_trip_and_increment_on_the_server(redis_cache):
    redis_cache.set("list", [1, "two", {"three": 3.0}], 60)
    redis_cache.set_many({"x": 1, "y": 2}, 60)

    assert redis_cache.get("list") == [1, "two", {"three": 3.0}]
    assert redis_cache.get_many(["x", "y", "missing"]) == {"x": 1, "y": 2}
    assert redis_cache.incr("x") == 2

    # The throttles count in it as in any cache that increments on its server.
    assert isinstance(redis_cache, ATOMIC_CACHES)
