"""Requests counted per key in fixed time windows, exact across worker processes.

The API's throttles and a host's sign-in form count requests per client. Every worker
process must see the same count: with a cache that increments on its server (Redis,
Memcached) the counter is a cache key; with any other cache (a database cache's
``incr`` reads then writes, a local-memory cache is one per process) it is a
:class:`~recommendations.models.RateCounter` row, incremented by one UPDATE that holds
the row's lock until its transaction ends.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.memcached import BaseMemcachedCache
from django.core.cache.backends.redis import RedisCache
from django.db import IntegrityError, transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from recommendations.models import RateCounter

#: Caches whose ``incr`` is one atomic operation on a server shared by every process.
ATOMIC_CACHES: tuple[type[BaseCache], ...] = (RedisCache, BaseMemcachedCache)


@dataclass(frozen=True)
class Count:
    """The requests counted in the current window (this one included) and its end."""

    value: int
    retry_after: float  # seconds until the window ends


def counter_increment(key: str, *, duration: int, now: float | None = None) -> Count:
    """Count one request under ``key`` in the current window of ``duration`` seconds."""
    now = time.time() if now is None else now
    window = int(now // duration)
    retry_after = (window + 1) * duration - now
    cache = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(cache, ATOMIC_CACHES):
        return Count(_cache_increment(cache, f"{key}:{window}", duration), retry_after)
    ends_at = datetime.fromtimestamp((window + 1) * duration, tz=UTC)
    return Count(_row_increment(key, window, ends_at), retry_after)


def counter_reset(key: str, *, duration: int) -> None:
    """Forget what was counted under ``key`` in the current window."""
    cache = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(cache, ATOMIC_CACHES):
        cache.delete(f"{key}:{int(time.time() // duration)}")
    else:
        RateCounter.objects.filter(key=key).delete()


def _cache_increment(cache: BaseCache, key: str, duration: int) -> int:
    # Incremented first: the window's counter exists for every request but its first,
    # so the usual request costs one cache call.
    try:
        return cache.incr(key)
    except ValueError:  # the window's first request
        pass
    if cache.add(key, 1, duration):
        return 1
    try:
        return cache.incr(key)  # another request created it in between
    except ValueError:  # and it expired since: a new window
        cache.set(key, 1, duration)
        return 1


def _row_increment(key: str, window: int, ends_at: datetime) -> int:
    counters = RateCounter.objects.filter(key=key)
    for _attempt in range(2):
        with transaction.atomic():
            # Concurrent requests wait for the row's lock (PostgreSQL) or the write lock
            # (SQLite's IMMEDIATE transactions) and each reads back its own count.
            counted = counters.update(
                count=Case(When(window=window, then=F("count") + 1), default=Value(1)),
                window=window,
                expires_at=ends_at,
            )
            if counted:
                return counters.values_list("count", flat=True).get()
        try:
            with transaction.atomic():
                # Rows of clients gone quiet are deleted as new clients come.
                RateCounter.objects.filter(expires_at__lt=timezone.now()).delete()
                RateCounter.objects.create(key=key, window=window, count=1, expires_at=ends_at)
            return 1
        except IntegrityError:  # a concurrent request created the row: count on it
            continue
    raise RuntimeError(f"Could not count a request under {key!r}.")
