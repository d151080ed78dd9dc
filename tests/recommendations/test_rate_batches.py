"""Requests allowed in batches: never more than the rate in a window across processes
and threads, at most one batch per other process fewer."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommendations import rate_batches
from recommendations.models import RateCounter
from recommendations.rate_batches import BATCH_MAX, Batches, batch_size

WINDOW_START = 1_700_000_040.0  # a multiple of 60


def _allowed(batches: Batches, key: str, *, limit: int, requests: int, now: float) -> int:
    return sum(
        batches.take(key, limit=limit, duration=60, now=now).allowed for _ in range(requests)
    )


def test_batches_are_bounded_by_the_rate_and_by_a_maximum():
    assert [batch_size(limit) for limit in (1, 99, 100, 600, 10**6)] == [1, 1, 2, 12, BATCH_MAX]


def test_a_small_rate_is_counted_one_request_at_a_time(db):
    batches = Batches()

    allowed = _allowed(batches, "small", limit=20, requests=20, now=WINDOW_START)
    held = len(batches)
    refused = _allowed(batches, "small", limit=20, requests=5, now=WINDOW_START)

    assert batch_size(20) == 1
    assert (allowed, refused) == (20, 0)
    assert held == 0  # nothing left over from a batch of one
    # Every request counted, the refused ones too, each once.
    assert RateCounter.objects.get(key="small").count == 25


def test_a_busy_client_is_counted_in_batches_and_gets_exactly_the_rate_in_one_process(db):
    limit = 1000
    batches = Batches()

    with CaptureQueriesContext(connection) as first:
        allowed = _allowed(batches, "busy", limit=limit, requests=100, now=WINDOW_START + 5)
    allowed += _allowed(batches, "busy", limit=limit, requests=1100, now=WINDOW_START + 10)
    refused = batches.take("busy", limit=limit, duration=60, now=WINDOW_START + 15)

    assert allowed == limit
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(45.0)
    # One shared count per batch of 20, not per request (and one more to start the row).
    assert len(first) == 100 // batch_size(limit) + 1


def test_the_last_batch_of_a_window_is_cut_to_what_the_rate_leaves(db):
    # 1,010 is not a whole number of batches of 20: the last one grants 10.
    assert _allowed(Batches(), "uneven", limit=1010, requests=1100, now=WINDOW_START) == 1010


def test_a_used_up_window_counts_refused_requests_one_at_a_time(db):
    batches = Batches()
    _allowed(batches, "spent", limit=200, requests=201, now=WINDOW_START)  # batches of 4
    counted = RateCounter.objects.get(key="spent").count

    refused = _allowed(batches, "spent", limit=200, requests=50, now=WINDOW_START + 30)
    counted_after = RateCounter.objects.get(key="spent").count
    next_window = _allowed(batches, "spent", limit=200, requests=10, now=WINDOW_START + 60)

    assert refused == 0
    assert counted_after == counted + 50
    assert next_window == 10


def test_a_reset_of_the_shared_counter_applies_at_once(db):
    batches = Batches()
    _allowed(batches, "forgiven", limit=200, requests=201, now=WINDOW_START)

    RateCounter.objects.filter(key="forgiven").delete()  # a staff member's reset
    allowed = _allowed(batches, "forgiven", limit=200, requests=200, now=WINDOW_START + 1)

    assert allowed == 200
    # One request counted alone, then batches of 4 again (49, and the last cut to 3).
    assert RateCounter.objects.get(key="forgiven").count == 201


def test_a_batch_held_unused_elsewhere_refuses_at_most_that_batch_early(db):
    limit, size = 1000, batch_size(1000)
    first, second = Batches(), Batches()  # two processes

    first_allowed = _allowed(first, "shared", limit=limit, requests=1, now=WINDOW_START)
    second_allowed = _allowed(second, "shared", limit=limit, requests=2000, now=WINDOW_START)
    rest = _allowed(first, "shared", limit=limit, requests=100, now=WINDOW_START)

    assert first_allowed == 1
    assert second_allowed == limit - size  # the first process holds the rest of its batch
    assert first_allowed + second_allowed + rest == limit


def test_processes_together_never_exceed_the_rate(db):
    limit, processes = 1000, [Batches(), Batches(), Batches()]

    allowed = sum(
        processes[i % 3].take("together", limit=limit, duration=60, now=WINDOW_START).allowed
        for i in range(3000)
    )

    assert limit - 2 * batch_size(limit) <= allowed <= limit


def test_threads_of_one_process_add_to_its_batch_and_lose_none(transactional_db):
    limit, batches = 1000, Batches()

    def take(_: int) -> bool:
        try:
            return batches.take("threads", limit=limit, duration=60, now=WINDOW_START).allowed
        finally:
            connection.close()  # each thread has its own connection

    with ThreadPoolExecutor(max_workers=8) as pool:
        allowed = sum(pool.map(take, range(1600)))

    assert allowed == limit


def test_a_batch_does_not_outlive_its_window(db):
    limit = 600
    first, second = Batches(), Batches()
    _allowed(first, "turning", limit=limit, requests=1, now=WINDOW_START + 59)  # holds 11

    second_allowed = _allowed(second, "turning", limit=limit, requests=600, now=WINDOW_START + 60)
    late = _allowed(first, "turning", limit=limit, requests=9, now=WINDOW_START + 60)

    assert second_allowed == limit
    assert late == 0


def test_a_batch_counted_under_another_rate_is_not_used(db):
    batches = Batches()
    _allowed(batches, "lowered", limit=1000, requests=31, now=WINDOW_START)  # holds 9

    # The rate lowered in the same window: the count (40) is over it already.
    assert _allowed(batches, "lowered", limit=10, requests=5, now=WINDOW_START) == 0
    # Nor does a window of another length, even one ending at the same second: it
    # counts in the shared counter again.
    minute_and_hour_end = 1_700_002_770.0  # both end at 1,700,002,800
    batches.take("hourly", limit=1000, duration=60, now=minute_and_hour_end)  # holds 19
    with CaptureQueriesContext(connection) as hourly:
        batches.take("hourly", limit=1000, duration=3600, now=minute_and_hour_end)
    assert len(hourly) >= 1


def test_a_process_keeps_a_bounded_number_of_clients_dropping_the_oldest(db, monkeypatch):
    monkeypatch.setattr(rate_batches, "KEPT", 3)
    batches = Batches()
    batches.take("past", limit=1000, duration=60, now=WINDOW_START - 60)
    for client in range(4):
        batches.take(f"client-{client}", limit=1000, duration=60, now=WINDOW_START)
    size = batch_size(1000)

    with CaptureQueriesContext(connection) as held:
        for client in (2, 3):
            assert batches.take(f"client-{client}", limit=1000, duration=60, now=WINDOW_START)
    with CaptureQueriesContext(connection) as dropped:
        batches.take("client-0", limit=1000, duration=60, now=WINDOW_START)

    assert len(held) == 0  # the newest still held: nothing counted
    assert len(dropped) >= 1  # the oldest dropped: counted again
    # The past window's batch went first, then the oldest of the current window.
    assert RateCounter.objects.get(key="client-0").count == 2 * size
    assert len(batches) <= 3


def test_a_late_request_of_a_window_gone_by_keeps_nothing_over_the_next_windows_batch(
    db, monkeypatch
):
    batches = Batches()
    real_increment = rate_batches.counter_increment

    def increment_while_the_next_window_starts(key, **kwargs):
        # Another thread serves the next window's first request in between.
        monkeypatch.setattr(rate_batches, "counter_increment", real_increment)
        batches.take(key, limit=1000, duration=60, now=WINDOW_START + 60)
        return real_increment(key, **kwargs)

    monkeypatch.setattr(rate_batches, "counter_increment", increment_while_the_next_window_starts)
    late = batches.take("boundary", limit=1000, duration=60, now=WINDOW_START + 59.9)

    with CaptureQueriesContext(connection) as next_window:
        following = batches.take("boundary", limit=1000, duration=60, now=WINDOW_START + 61)

    assert late.allowed
    assert following.allowed
    assert len(next_window) == 0  # the next window's batch was kept, not replaced
