"""Requests counted per key in fixed time windows, exact across worker processes.

The API's throttles and a host's sign-in form count requests per client. Every worker
process must see the same count: with a cache that increments on its server (Redis,
Memcached) the counter is a cache key, on Redis counted and given its expiry in one
command through the cache's own client; with any other cache (a database cache's
``incr`` reads then writes, a local-memory cache is one per process) it is a
:class:`~recommendations.models.RateCounter` row. On SQLite and PostgreSQL one UPDATE
statement increments the row of the window and reads the count back (the database
serialises concurrent ones on the row); a client's first request of a window creates
or moves on the row with one upsert statement. On other databases an UPDATE that holds
the row's lock until its transaction ends, then a SELECT. Rows of windows gone by are
deleted now and then, when a client's first request of a window comes.
"""

from __future__ import annotations

import functools
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.backends.memcached import BaseMemcachedCache
from django.core.cache.backends.redis import RedisCache
from django.db import IntegrityError, connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Case, DateTimeField, F, Q, Value, When

from recommendations.models import RateCounter

#: Caches whose ``incr`` is one atomic operation on a server shared by every process.
ATOMIC_CACHES: tuple[type[BaseCache], ...] = (RedisCache, BaseMemcachedCache)

#: Databases whose ``INSERT ... ON CONFLICT (...) DO UPDATE ... RETURNING`` counts in one
#: statement (SQLite from 3.35 on, as ``can_return_columns_from_insert`` says).
UPSERT_VENDORS = frozenset({"sqlite", "postgresql"})

#: Counts ARGV[2] under KEYS[1] and gives a new key ARGV[1] seconds to live.
REDIS_INCREMENT = (
    "local n = redis.call('INCRBY', KEYS[1], ARGV[2]) "
    "if n == tonumber(ARGV[2]) then redis.call('EXPIRE', KEYS[1], ARGV[1]) end "
    "return n"
)

#: One window's first request in this many deletes the rows of past windows: often
#: enough that the table holds about the clients of the current window, rarely enough
#: that a new client costs one statement, not two.
PURGE_ONE_IN = 32


@dataclass(frozen=True)
class Count:
    """The requests counted in the current window (this one included) and its end."""

    value: int
    retry_after: float  # seconds until the window ends


def counter_increment(key: str, *, duration: int, now: float | None = None, by: int = 1) -> Count:
    """Count one request (``by`` requests) under ``key`` in the current window of
    ``duration`` seconds."""
    if isinstance(by, bool) or not isinstance(by, int) or by < 1:
        raise ValueError(f"by must be a positive integer, got {by!r}.")
    now = time.time() if now is None else now
    window = int(now // duration)
    retry_after = (window + 1) * duration - now
    cache = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(cache, RedisCache):
        return Count(_redis_increment(cache, f"{key}:{window}", duration, by), retry_after)
    if isinstance(cache, ATOMIC_CACHES):
        return Count(_cache_increment(cache, f"{key}:{window}", duration, by), retry_after)
    ends_at = datetime.fromtimestamp((window + 1) * duration, tz=UTC)
    connection = connections[router.db_for_write(RateCounter)]
    if upsert_supported(connection):
        value = _row_upsert(connection, key, window, ends_at, by)
    else:
        value = _row_increment(key, window, ends_at, by)
    if value == by and purge_due(key, window):  # the window's first count
        RateCounter.objects.filter(expires_at__lt=datetime.fromtimestamp(now, tz=UTC)).delete()
    return Count(value, retry_after)


def counter_reset(key: str, *, duration: int) -> None:
    """Forget what was counted under ``key`` in the current window."""
    cache = caches[DEFAULT_CACHE_ALIAS]
    if isinstance(cache, ATOMIC_CACHES):
        cache.delete(f"{key}:{int(time.time() // duration)}")
    else:
        RateCounter.objects.filter(key=key).delete()


def _redis_increment(cache: RedisCache, key: str, duration: int, by: int) -> int:
    # Django's incr asks whether the key exists first (two round trips) and the window's
    # first request adds it (two more); the script counts and, for the window's first
    # request, sets the key's expiry in one command, atomically.
    cache_key = cache.make_and_validate_key(key)
    # ``_cache`` is Django's client of the cache's servers (and its connection pools).
    client = cache._cache.get_client(cache_key, write=True)
    return int(client.eval(REDIS_INCREMENT, 1, cache_key, duration, by))


def _cache_increment(cache: BaseCache, key: str, duration: int, by: int) -> int:
    # Incremented first: the window's counter exists for every request but its first,
    # so the usual request costs one cache call.
    try:
        return cache.incr(key, by)
    except ValueError:  # the window's first request
        pass
    if cache.add(key, by, duration):
        return by
    try:
        return cache.incr(key, by)  # another request created it in between
    except ValueError:  # and it expired since: a new window
        cache.set(key, by, duration)
        return by


def upsert_supported(connection: BaseDatabaseWrapper) -> bool:
    """Whether ``connection`` counts a request with one upsert statement."""
    features = connection.features
    return (
        connection.vendor in UPSERT_VENDORS
        and features.supports_update_conflicts_with_target
        and features.can_return_columns_from_insert
    )


def purge_due(key: str, window: int) -> bool:
    """Whether the first request under ``key`` in ``window`` deletes the past rows: one
    (key, window) in ``PURGE_ONE_IN``, spread evenly and the same in every process."""
    return zlib.crc32(f"{window}:{key}".encode()) % PURGE_ONE_IN == 0


@functools.cache
def _statements(alias: str, vendor: str) -> tuple[str, str]:
    """The increment and the upsert of a counter row, written once per database."""
    connection = connections[alias]
    meta, quote = RateCounter._meta, connection.ops.quote_name
    table = quote(meta.db_table)
    key, window, count, expires_at = (
        quote(meta.get_field(name).column) for name in ("key", "window", "count", "expires_at")
    )
    # Within the row's window the count alone changes: one page written, no index entry
    # (expires_at's is rewritten whenever the column is set, even to its own value) and,
    # unlike an INSERT that turns into an update, no row id drawn.
    increment = (
        f"UPDATE {table} SET {count} = {count} + %s WHERE {key} = %s AND {window} = %s "
        f"RETURNING {count}"
    )
    # A row moves on to a window that ends later, never back: a request of a window gone
    # by that comes late (it read the clock before a concurrent one of the next window
    # wrote) counts into the newer window rather than start its old one again from zero.
    # Compared by their ends, not their numbers: a changed rate's window of another
    # length is numbered on another scale.
    kept = f"{table}.{expires_at} >= excluded.{expires_at}"
    upsert = (
        f"INSERT INTO {table} ({key}, {window}, {count}, {expires_at}) VALUES (%s, %s, %s, %s) "
        f"ON CONFLICT ({key}) DO UPDATE SET "
        f"{count} = CASE WHEN {kept} THEN {table}.{count} + excluded.{count} "
        f"ELSE excluded.{count} END, "
        f"{window} = CASE WHEN {kept} THEN {table}.{window} ELSE excluded.{window} END, "
        f"{expires_at} = CASE WHEN {kept} THEN {table}.{expires_at} "
        f"ELSE excluded.{expires_at} END "
        f"RETURNING {count}"
    )
    return increment, upsert


def _row_upsert(
    connection: BaseDatabaseWrapper, key: str, window: int, ends_at: datetime, by: int
) -> int:
    # Each statement is atomic on its own: concurrent requests wait for the row's lock
    # (PostgreSQL) or the write lock (SQLite) and each reads back its own count. A
    # client's first request of a window (no row of the window to count on) creates or
    # moves on the row with the upsert, which counts on whatever a concurrent request
    # did in between.
    increment, upsert = _statements(connection.alias, connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(increment, [by, key, window])
        row = cursor.fetchone()
        if row is None:
            field = RateCounter._meta.get_field("expires_at")
            expires = field.get_db_prep_value(ends_at, connection)
            cursor.execute(upsert, [key, window, by, expires])
            row = cursor.fetchone()
        return row[0]


def _row_increment(key: str, window: int, ends_at: datetime, by: int) -> int:
    counters = RateCounter.objects.filter(key=key)
    for _attempt in range(2):
        with transaction.atomic():
            # Concurrent requests wait for the row's lock (PostgreSQL) or the write lock
            # (SQLite's IMMEDIATE transactions) and each reads back its own count.
            # Never back to a window that ends earlier (see _statements).
            kept = Q(expires_at__gte=ends_at)
            counted = counters.update(
                count=Case(When(kept, then=F("count") + by), default=Value(by)),
                window=Case(When(kept, then=F("window")), default=Value(window)),
                expires_at=Case(
                    When(kept, then=F("expires_at")),
                    default=Value(ends_at),
                    output_field=DateTimeField(),
                ),
            )
            if counted:
                return counters.values_list("count", flat=True).get()
        try:
            with transaction.atomic():
                RateCounter.objects.create(key=key, window=window, count=by, expires_at=ends_at)
            return by
        except IntegrityError:  # a concurrent request created the row: count on it
            continue
    raise RuntimeError(f"Could not count a request under {key!r}.")
