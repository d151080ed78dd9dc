"""Requests allowed in batches: never more than the rate across processes, little less."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommendations.models import RateCounter
from recommendations.rate_batches import BATCH_MAX, Batches, batch_size

WINDOW_START = 1_700_000_040.0  # a multiple of 60


def _allowed(batches: Batches, key: str, *, limit: int, requests: int, now: float) -> int:
    return sum(
        batches.take(key, limit=limit, duration=60, now=now).allowed for _ in range(requests)
    )


def test_a_small_rate_is_counted_one_request_at_a_time(db):
    allowed = _allowed(Batches(), "small", limit=20, requests=25, now=WINDOW_START)

    assert batch_size(20) == 1
    assert allowed == 20
    # Every request counted, the refused ones too: nothing is held back in a process.
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


def test_processes_together_never_exceed_the_rate_and_lose_at_most_a_batch_each(db):
    limit, processes = 1000, [Batches(), Batches(), Batches()]

    allowed = sum(
        processes[i % 3].take("shared", limit=limit, duration=60, now=WINDOW_START).allowed
        for i in range(3000)
    )

    assert limit - 2 * batch_size(limit) <= allowed <= limit


def test_a_batch_does_not_outlive_its_window(db):
    batches = Batches()
    _allowed(batches, "turning", limit=500, requests=500, now=WINDOW_START)
    refused = batches.take("turning", limit=500, duration=60, now=WINDOW_START + 59)

    next_window = _allowed(batches, "turning", limit=500, requests=500, now=WINDOW_START + 60)

    assert not refused.allowed
    assert next_window == 500


def test_batches_are_bounded_by_the_rate_and_by_a_maximum():
    assert [batch_size(limit) for limit in (1, 99, 100, 600, 10**6)] == [1, 1, 2, 12, BATCH_MAX]
