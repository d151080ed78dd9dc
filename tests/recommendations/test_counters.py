"""Request counters are exact per window, in the database as in an atomic cache."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.cache.backends.locmem import LocMemCache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommendations import counters
from recommendations.counters import counter_increment, counter_reset, purge_due
from recommendations.models import RateCounter

WINDOW_START = 1_700_000_040.0  # a multiple of 60


@pytest.fixture(autouse=True, params=["upsert", "update"])
def row_path(request, monkeypatch) -> str:
    """Every database test runs on the one-statement upsert and on the fallback of the
    databases without it (UPDATE, then SELECT or INSERT)."""
    if request.param == "upsert":
        if not counters.upsert_supported(connection):
            pytest.skip(f"{connection.vendor} counts without an upsert")
    else:
        monkeypatch.setattr(counters, "upsert_supported", lambda connection: False)
    return request.param


def _key(*, purging: bool, window: int, prefix: str = "new") -> str:
    """A key whose first request in ``window`` deletes past rows (or does not)."""
    return next(
        key
        for key in (f"{prefix}-{i}" for i in range(10_000))
        if purge_due(key, window) == purging
    )


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


def test_rows_of_past_windows_are_deleted_now_and_then_as_new_clients_come(db):
    later = WINDOW_START + 120
    window = int(later // 60)
    counter_increment("gone-quiet", duration=60, now=WINDOW_START)
    counter_increment("current", duration=60, now=later)

    counter_increment(_key(purging=False, window=window), duration=60, now=later)
    kept = RateCounter.objects.filter(key="gone-quiet").exists()
    counter_increment(_key(purging=True, window=window), duration=60, now=later)

    assert kept
    assert not RateCounter.objects.filter(key="gone-quiet").exists()
    assert RateCounter.objects.filter(key="current").exists()


def test_few_first_requests_of_a_window_delete_past_rows():
    due = sum(purge_due(f"client-{i}", 28_333_334) for i in range(3200))

    assert 0 < due < 3200 / counters.PURGE_ONE_IN * 2


@pytest.mark.parametrize("row_path", ["upsert"], indirect=True)  # the fallback takes more
def test_a_request_is_one_statement_writing_the_count_alone_and_a_window_starts_with_two(
    db, row_path
):
    key = _key(purging=False, window=int(WINDOW_START // 60) + 1, prefix="one")
    with CaptureQueriesContext(connection) as new:
        counter_increment(key, duration=60, now=WINDOW_START)
    with CaptureQueriesContext(connection) as usual:
        counter_increment(key, duration=60, now=WINDOW_START + 1)
    with CaptureQueriesContext(connection) as moved:
        value = counter_increment(key, duration=60, now=WINDOW_START + 60).value

    assert len(usual) == 1
    assert usual[0]["sql"].startswith("UPDATE") and "expires_at" not in usual[0]["sql"]
    # The increment finds no row of the window; the upsert creates or moves it on.
    assert len(new) == len(moved) == 2
    assert "ON CONFLICT" in new[1]["sql"]
    assert value == 1
    row = RateCounter.objects.get(key=key)
    assert (row.window, row.count) == (int(WINDOW_START // 60) + 1, 1)
    assert row.expires_at.timestamp() == WINDOW_START + 120


@pytest.mark.parametrize("by", [1, 2])  # a request, or a throttle's batch of two
def test_concurrent_requests_each_get_their_own_count(transactional_db, by):
    def count(_: int) -> int:
        try:
            return counter_increment("busy", duration=60, now=WINDOW_START, by=by).value
        finally:
            connection.close()  # each thread has its own connection

    with ThreadPoolExecutor(max_workers=4) as pool:
        values = list(pool.map(count, range(40)))

    assert sorted(values) == list(range(by, 40 * by + 1, by))


def test_concurrent_first_requests_of_a_new_window_each_get_their_own_count(
    transactional_db,
):
    counter_increment("turning", duration=60, now=WINDOW_START)  # the window before

    def count(_: int) -> int:
        try:
            return counter_increment("turning", duration=60, now=WINDOW_START + 60).value
        finally:
            connection.close()

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


def test_a_counter_counts_several_requests_at_once_in_the_database(db):
    first = counter_increment("batched", duration=60, now=WINDOW_START, by=5).value
    second = counter_increment("batched", duration=60, now=WINDOW_START + 1, by=3).value
    next_window = counter_increment("batched", duration=60, now=WINDOW_START + 60, by=4).value

    assert (first, second, next_window) == (5, 8, 4)
    assert RateCounter.objects.get(key="batched").count == 4


def test_an_atomic_cache_counts_several_requests_at_once(db, monkeypatch):
    monkeypatch.setattr(counters, "ATOMIC_CACHES", (LocMemCache,))
    counter_reset("cached-batch", duration=60)

    values = [counter_increment("cached-batch", duration=60, by=4).value for _ in range(2)]

    assert values == [4, 8]


def test_an_atomic_cache_counts_a_batch_created_meanwhile_or_expired_meanwhile(db, monkeypatch):
    monkeypatch.setattr(counters, "ATOMIC_CACHES", (LocMemCache,))
    cache = counters.caches["default"]
    window = int(WINDOW_START // 60)
    cache.delete_many([f"raced:{window}", f"expired:{window}"])
    real_incr, real_add = cache.incr, cache.add
    calls = []

    def incr(key, delta=1, version=None):
        calls.append("incr")
        if len(calls) == 1:
            raise ValueError("no counter yet")
        return real_incr(key, delta, version)

    def add_lost(key, value, timeout=None, version=None):
        real_add(key, 3, timeout, version)  # another request created it with its batch
        return False

    monkeypatch.setattr(cache, "incr", incr)
    monkeypatch.setattr(cache, "add", add_lost)
    raced = counter_increment("raced", duration=60, now=WINDOW_START, by=4).value

    calls.clear()
    monkeypatch.setattr(cache, "incr", lambda *a, **k: (_ for _ in ()).throw(ValueError()))
    monkeypatch.setattr(cache, "add", lambda *a, **k: False)
    expired = counter_increment("expired", duration=60, now=WINDOW_START, by=4).value

    assert raced == 7
    assert expired == 4
    assert cache.get(f"expired:{window}") == 4


@pytest.mark.parametrize("by", [0, -1, True, 1.5])
def test_a_count_of_no_request_is_refused(db, by):
    with pytest.raises(ValueError, match="by must be a positive integer"):
        counter_increment("k", duration=60, by=by)


def test_the_first_batch_of_a_window_deletes_past_rows_now_and_then(db):
    later = WINDOW_START + 120
    counter_increment("gone-quiet", duration=60, now=WINDOW_START)

    counter_increment(_key(purging=True, window=int(later // 60)), duration=60, now=later, by=5)

    assert not RateCounter.objects.filter(key="gone-quiet").exists()


def test_a_late_request_of_a_window_gone_by_counts_into_the_newer_window(db):
    counter_increment("late", duration=60, now=WINDOW_START + 60)
    counter_increment("late", duration=60, now=WINDOW_START + 61, by=4)

    # It read the clock before the window ended, and writes after the next one began.
    late = counter_increment("late", duration=60, now=WINDOW_START + 59).value
    after = counter_increment("late", duration=60, now=WINDOW_START + 62).value

    assert (late, after) == (6, 7)
    row = RateCounter.objects.get(key="late")
    assert row.window == int(WINDOW_START // 60) + 1
    assert row.expires_at.timestamp() == WINDOW_START + 120


def test_a_rate_moved_to_a_longer_window_counts_afresh(db):
    for second in range(3):
        counter_increment("moved", duration=60, now=WINDOW_START + second)

    # The same client's rate is now per hour: that window ends later, so it starts.
    hourly = [
        counter_increment("moved", duration=3600, now=WINDOW_START + 10 + i).value
        for i in range(2)
    ]

    assert hourly == [1, 2]
