"""Request counters in Redis: one round trip per request, keys that expire."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from redis.connection import AbstractConnection

from recommendations.counters import counter_increment, counter_reset
from recommendations.models import RateCounter

pytestmark = pytest.mark.redis

WINDOW_START = 1_700_000_040.0  # a multiple of 60


def test_a_redis_counter_counts_in_one_round_trip_and_expires_with_its_window(
    db, redis_default, monkeypatch
):
    window = int(WINDOW_START // 60)
    counter_reset("redis", duration=60)
    sends = []
    real_send = AbstractConnection.send_packed_command

    def send(self, command, *args, **kwargs):
        sends.append(command)
        return real_send(self, command, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "send_packed_command", send)
    values = [counter_increment("redis", duration=60, now=WINDOW_START).value for _ in range(3)]
    round_trips = len(sends)
    monkeypatch.undo()

    assert values == [1, 2, 3]
    assert round_trips == 3  # the window's first request too
    client = redis_default._cache.get_client(write=True)
    assert 0 < client.ttl(redis_default.make_key(f"redis:{window}")) <= 60
    assert redis_default.get(f"redis:{window}") == 3  # as the cache itself reads it
    assert counter_increment("redis", duration=60, now=WINDOW_START + 60).value == 1
    assert not RateCounter.objects.exists()


def test_concurrent_requests_on_redis_each_get_their_own_count(db, redis_default):
    counter_reset("together", duration=60)

    def count(_):
        # Each thread has its own cache object and client, as another process would.
        return counter_increment("together", duration=60, now=WINDOW_START).value

    with ThreadPoolExecutor(max_workers=8) as pool:
        values = list(pool.map(count, range(40)))

    assert sorted(values) == list(range(1, 41))


def test_a_redis_counter_counts_a_batch_in_one_round_trip_with_its_expiry(db, redis_default):
    window = int(WINDOW_START // 60)
    counter_reset("redis-batch", duration=60)

    values = [
        counter_increment("redis-batch", duration=60, now=WINDOW_START, by=16).value
        for _ in range(2)
    ]

    assert values == [16, 32]
    client = redis_default._cache.get_client(write=True)
    assert 0 < client.ttl(redis_default.make_key(f"redis-batch:{window}")) <= 60
