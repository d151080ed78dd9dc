"""Request counters are exact per window, in the database as in an atomic cache."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection

from recommendations import counters
from recommendations.counters import counter_increment, counter_reset
from recommendations.models import RateCounter

WINDOW_START = 1_700_000_040.0  # a multiple of 60


def test_a_database_counter_counts_each_request_of_the_window(db):
    values = [counter_increment("k", duration=60, now=WINDOW_START + i).value for i in range(3)]
    wait = counter_increment("k", duration=60, now=WINDOW_START + 45).retry_after

    assert values == [1, 2, 3]
    assert wait == pytest.approx(15.0)
    assert RateCounter.objects.get(key="k").count == 4


def test_a_new_window_counts_from_one_again_and_keys_count_apart(db):
    counter_increment("k", duration=60, now=WINDOW_START)
    counter_increment("k", duration=60, now=WINDOW_START + 1)

    assert counter_increment("k", duration=60, now=WINDOW_START + 60).value == 1
    assert counter_increment("other", duration=60, now=WINDOW_START + 60).value == 1


def test_a_reset_forgets_the_count(db):
    counter_increment("k", duration=60)
    counter_increment("k", duration=60)
    counter_reset("k", duration=60)

    assert counter_increment("k", duration=60).value == 1


def test_rows_of_past_windows_are_deleted_as_new_clients_come(db):
    counter_increment("gone-quiet", duration=60, now=WINDOW_START)
    counter_increment("new", duration=60)

    assert not RateCounter.objects.filter(key="gone-quiet").exists()


def test_concurrent_requests_each_get_their_own_count(transactional_db):
    def count(_: int) -> int:
        try:
            return counter_increment("busy", duration=86400).value
        finally:
            connection.close()  # each thread has its own connection

    with ThreadPoolExecutor(max_workers=4) as pool:
        values = list(pool.map(count, range(40)))

    assert sorted(values) == list(range(1, 41))


def test_an_atomic_cache_counts_in_the_cache(db, monkeypatch):
    monkeypatch.setattr(counters, "ATOMIC_CACHES", (LocMemCache,))
    counter_reset("cached", duration=60)

    values = [counter_increment("cached", duration=60).value for _ in range(3)]
    counter_reset("cached", duration=60)

    assert values == [1, 2, 3]
    assert counter_increment("cached", duration=60).value == 1
    assert not RateCounter.objects.exists()
