"""Requests allowed in batches: a process's share of a client's rate, taken in advance.

A throttle that counts every request in the shared counter (:mod:`.counters`) pays a
database write or a cache round trip per request. Here a process counts a small batch
of a client's requests at once and allows them from its memory, one by one, within the
same window. The shared counter still counts every request that any process may allow,
so no client gets more than the rate, whatever the number of processes. The price: a
batch another process holds unused can refuse a client up to one batch per other
process early. A batch is 1/``BATCH_SHARE`` of the rate (at most ``BATCH_MAX``), so
rates under twice ``BATCH_SHARE`` requests a window are counted one request at a time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from recommendations.counters import counter_increment

#: A batch is this share of the rate: with two processes a client may be refused at
#: 98% of the rate at the earliest.
BATCH_SHARE = 50
#: The largest batch: one shared count per this many requests of a busy client.
BATCH_MAX = 64
#: Clients whose batches a process keeps: beyond, batches of past windows are dropped,
#: then all (a dropped batch only refuses its client a little earlier).
KEPT = 10_000


@dataclass(frozen=True)
class Decision:
    """Whether a request is allowed, and the seconds until its window ends."""

    allowed: bool
    retry_after: float


def batch_size(limit: int) -> int:
    """How many requests of a client one shared count takes, for a rate of ``limit``."""
    return max(1, min(BATCH_MAX, limit // BATCH_SHARE))


class Batches:
    """The batches this process holds: per counter key, the window's end and the
    requests still allowed in it."""

    def __init__(self) -> None:
        self._held: dict[str, tuple[float, int]] = {}
        self._lock = threading.Lock()  # threaded workers share one process's batches

    def take(self, key: str, *, limit: int, duration: int, now: float | None = None) -> Decision:
        """Allow one request under ``key`` (at most ``limit`` per window of ``duration``
        seconds across every process), from a held batch or a new one."""
        now = time.time() if now is None else now
        ends_at = (int(now // duration) + 1) * duration
        with self._lock:
            held = self._held.get(key)
            if held is not None and held[0] == ends_at and held[1] > 0:
                self._held[key] = (ends_at, held[1] - 1)
                return Decision(True, ends_at - now)
        size = batch_size(limit)
        count = counter_increment(key, duration=duration, now=now, by=size)
        # The requests of this batch that the rate still allows (the counter counted
        # other processes' batches, and refused requests, before it).
        granted = min(size, limit - (count.value - size))
        if granted <= 0:
            return Decision(False, count.retry_after)
        with self._lock:
            if len(self._held) >= KEPT and key not in self._held:
                self._prune(now)
            self._held[key] = (ends_at, granted - 1)
        return Decision(True, count.retry_after)

    def clear(self) -> None:
        """Forget every batch (the requests they allowed stay counted)."""
        with self._lock:
            self._held.clear()

    def _prune(self, now: float) -> None:
        self._held = {key: held for key, held in self._held.items() if held[0] > now}
        if len(self._held) >= KEPT:
            self._held.clear()


#: This process's batches.
batches = Batches()
