"""Requests allowed in batches: a process's share of a client's rate, taken in advance.

A throttle that counts every request in the shared counter (:mod:`.counters`) pays a
database write or a cache round trip per request. Here a process counts a small batch
of a client's requests at once and allows them from its memory, one by one, within the
same window and for the same rate. The shared counter still counts every request that
any process may allow, so no client gets more than the rate in a window, whatever the
number of processes and threads. The price: batches other processes hold unused can
refuse a client early, by up to one batch per other process (per thread that counted
at the same moment, in a threaded worker). A batch is 1/``BATCH_SHARE`` of the rate (at
most ``BATCH_MAX``), so rates under twice ``BATCH_SHARE`` requests a window are counted
one request at a time. Once a process was refused a client's batch in a window, it
counts that client's further requests one at a time: a refused request then adds one
to the count, not a batch, and a reset of the shared counter (a flushed cache, deleted
rows) applies at once.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from itertools import islice

from recommendations.counters import counter_increment

#: A batch is this share of the rate: with two processes a client may be refused at
#: 98% of the rate at the earliest.
BATCH_SHARE = 50
#: The largest batch: one shared count per this many requests of a busy client.
BATCH_MAX = 64
#: Clients a process holds a batch (or a used-up window) of: beyond, those of past
#: windows are dropped, then the oldest (whose clients may be refused a batch early).
KEPT = 10_000
#: Held for a client whose window's count reached the rate: counted one at a time.
_USED_UP = -1

# key -> (window end, rate, window seconds, requests left or _USED_UP)
Held = tuple[float, int, int, int]


@dataclass(frozen=True)
class Decision:
    """Whether a request is allowed, and the seconds until its window ends."""

    allowed: bool
    retry_after: float


def _left(held: Held | None, batch: tuple[float, int, int]) -> int:
    """What ``held`` holds for ``batch`` (window end, rate, window seconds): requests
    left, 0 (nothing, or held for another window or rate) or _USED_UP."""
    if held is None or held[:3] != batch:
        return 0
    return held[3]


def batch_size(limit: int) -> int:
    """How many requests of a client one shared count takes, for a rate of ``limit``."""
    return max(1, min(BATCH_MAX, limit // BATCH_SHARE))


class Batches:
    """The batches this process holds, per counter key: usable only in the window and
    for the rate they were counted in."""

    def __init__(self) -> None:
        self._held: dict[str, Held] = {}
        self._lock = threading.Lock()  # threaded workers share one process's batches

    def take(self, key: str, *, limit: int, duration: int, now: float | None = None) -> Decision:
        """Allow one request under ``key`` (at most ``limit`` per window of ``duration``
        seconds across every process), from a held batch or a new one."""
        now = time.time() if now is None else now
        ends_at = (int(now // duration) + 1) * duration
        batch = (ends_at, limit, duration)
        wait = ends_at - now
        with self._lock:
            left = _left(self._held.get(key), batch)
            if left > 0:
                self._keep(key, (*batch, left - 1), now)
                return Decision(True, wait)
        size = 1 if left == _USED_UP else batch_size(limit)
        count = counter_increment(key, duration=duration, now=now, by=size)
        # The requests of this batch that the rate still allows (the counter counted
        # other processes' batches, and this process's other threads', before it).
        granted = max(0, min(size, limit - (count.value - size)))
        with self._lock:
            held = self._held.get(key)
            if held is not None and held[0] > ends_at:
                # Another thread stored the next window's batch meanwhile: this request
                # of the window gone by keeps nothing for later.
                return Decision(granted > 0, wait)
            # Added to what another thread of this process took meanwhile, never instead.
            left = max(0, _left(held, batch)) + granted
            if left == 0:
                self._keep(key, (*batch, _USED_UP), now)
                return Decision(False, wait)
            self._keep(key, (*batch, left - 1), now)
        return Decision(True, wait)

    def clear(self) -> None:
        """Forget every batch (the requests they allowed stay counted)."""
        with self._lock:
            self._held.clear()

    def __len__(self) -> int:
        return len(self._held)

    def _keep(self, key: str, held: Held, now: float) -> None:
        if held[3] == 0:  # nothing left to allow: the next request counts again
            self._held.pop(key, None)
            return
        if key not in self._held and len(self._held) >= KEPT:
            self._evict(now)
        self._held[key] = held

    def _evict(self, now: float) -> None:
        self._held = {key: held for key, held in self._held.items() if held[0] > now}
        excess = len(self._held) - KEPT * 9 // 10
        for key in list(islice(self._held, max(0, excess))):  # the oldest first
            del self._held[key]


#: This process's batches.
batches = Batches()
