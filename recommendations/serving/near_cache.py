"""A near cache: the few values every list reads, kept in this process until Redis says
they changed.

Every list first reads a few small values from the shared cache (the rules' version,
when the catalog, the availability and, with ``SOCIAL``, the follows changed, the
shopper's generation and history head:
:func:`recommendations.serving.pipeline.page_read`). With Django's Redis backend that
is a round trip per request. Here this process keeps what it read and asks the
Redis server to tell it when any of those keys changes, whoever changes it:
server-assisted client-side caching (``CLIENT TRACKING ... REDIRECT``, Redis 6 and
newer, over RESP2). Two connections of its own: one reads the keys with tracking on,
the other receives the invalidations. No thread: every read first takes the
invalidations Redis sent since (a read of their connection that does not wait). Redis
sends them as it makes the change, so a change another process made before this read
began is read afresh, as it would be without the near cache.

Safety nets: a write of this process forgets its keys at once (:func:`near_forget`, the
write paths call it; the read path's own writes call :meth:`NearCache.forget` only when
``near_cache.values`` holds anything, so another backend costs them no call), a silent
connection is noticed by a ping answered within ``PING_EVERY`` seconds, and any error
forgets everything and reads the cache as without a near cache (connecting again after
``RETRY_AFTER`` seconds). A value is kept ``RELOAD_INTERVAL`` seconds at most: Redis
tells of an expired key only once it removes it, which may come later than its time.
What expires as a promise counts as gone past its time wherever it was kept: a
shopper's history head carries its expiry time, and a process reads the rules again
``RELOAD_INTERVAL`` seconds after it last read them, whatever their version's token.

Django's local-memory cache is this process's own: only this process writes it, and
every write of those keys forgets them at once (the safety net above), so values are
kept the same way with no connection to hear from. What writes the cache without the
app (a host's ``cache.clear()``) is read within ``RELOAD_INTERVAL``, as a change of
another process would be. Other cache backends read the cache every time.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterable
from contextlib import suppress
from itertools import repeat
from operator import itemgetter
from typing import Any

from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

from recommendations.conf import app_settings

try:
    from redis.exceptions import ResponseError
except ImportError:  # without redis-py there is no Redis backend to keep values of
    ResponseError = None

logger = logging.getLogger(__name__)

INVALIDATIONS = b"__redis__:invalidate"
# A ping is sent when the invalidations were silent this long, and must be answered
# within as long again.
PING_EVERY = 1.0
# Seconds before connecting again after an error.
RETRY_AFTER = 5.0
# Values kept at most (forgotten whole when full: refilled by requests).
MAX_KEPT = 50_000

_ABSENT = object()


class NearCache:
    """The near cache of one process; thread-safe through ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pid: int | None = None
        self.reader: Any = None
        self.listener: Any = None
        self.serializer: Any = None
        # The connections' ids on the server (the listener's: where the reader's
        # invalidations go).
        self.listener_id: int | None = None
        self.reader_id: int | None = None
        # Redis key -> (kept at, value or _ABSENT).
        self.values: dict[bytes, tuple[float, Any]] = {}
        # Cache key -> Redis key (prefix and version applied, as the cache does).
        self.names: dict[str, bytes] = {}
        self.heard_at = 0.0
        self.ping_sent_at: float | None = None
        # When to try connecting again.
        self.retry_at = 0.0
        # Not for this cache backend or setting (until they change): the read path then
        # reads the cache itself, without a call in here.
        self.off = False
        # The cache is this process's local memory: no connection, nothing to hear.
        self.local = False

    def clear(self) -> None:
        """Forget everything and close the connections (settings changed, tests)."""
        with self.lock:
            self._close()
            self.retry_at, self.off, self.local = 0.0, False, False

    def forget(self, keys: Iterable[str]) -> None:
        """Forget ``keys``: this process just wrote them."""
        if not self.values:
            return
        with self.lock:
            for key in keys:
                # A key never read has no name, nor any value kept under one.
                name = self.names.get(key)
                if name is not None:
                    self.values.pop(name, None)

    def get_many(self, keys: list[str]) -> dict[str, Any]:
        """``cache.get_many(keys)``, from this process's memory where still current."""
        now = time.monotonic()
        with self.lock:
            # Set up only when not ready: a new process, a first read, a retry.
            ready = self.pid == os.getpid() and (self.local or self.reader is not None)
            if ready or self._usable(now):
                try:
                    return self._get_many(keys, now)
                except Exception as exc:  # any doubt: forget it all, read the cache
                    logger.warning("Near cache off for %.0f s (%s).", RETRY_AFTER, exc)
                    self._close()
                    self.retry_at = now + RETRY_AFTER
        return cache.get_many(keys)

    def _usable(self, now: float) -> bool:
        if self.pid != os.getpid():  # forked: the parent's connections are not ours
            self.reader = self.listener = None
            self.values, self.names = {}, {}
            self.pid = os.getpid()
            self.retry_at = 0.0
        if self.reader is not None or self.local:
            return True
        if now < self.retry_at:
            return False
        backend = caches[DEFAULT_CACHE_ALIAS]
        if app_settings.NEAR_CACHE and isinstance(backend, LocMemCache):
            self.local, self.values = True, {}
            return True
        if not app_settings.NEAR_CACHE or not _supported(backend):
            self.off = True
            return False
        try:
            self._connect(backend, now)
        except Exception as exc:
            self._close()
            if ResponseError is not None and isinstance(exc, ResponseError):
                # Refused (Redis older than 6, an ACL, a proxy without CLIENT): for good.
                logger.warning("Near cache off (%s): the cache is read every time.", exc)
                self.off = True
            else:
                logger.warning("Near cache not connected (%s): again in %.0f s.", exc, RETRY_AFTER)
                self.retry_at = now + RETRY_AFTER
            return False
        return True

    def _connect(self, backend: RedisCache, now: float) -> None:
        client = backend._cache
        pool = client._get_connection_pool(write=False)
        # RESP2 (the invalidations arrive as a subscribed connection's messages), and
        # none of redis-py's health checks (they expect a plain PONG from the listener)
        # nor its maintenance notifications (RESP3 only).
        kwargs = {
            name: value
            for name, value in pool.connection_kwargs.items()
            if not name.startswith("maint_notifications")
        }
        kwargs.update(protocol=2, health_check_interval=0)
        listener = pool.connection_class(**kwargs)
        self.listener = listener
        listener.connect()
        listener.send_command("CLIENT", "ID")
        self.listener_id = listener.read_response()
        listener.send_command("SUBSCRIBE", INVALIDATIONS)
        listener.read_response()
        reader = pool.connection_class(**kwargs)
        reader.connect()
        reader.send_command("CLIENT", "ID")
        self.reader_id = reader.read_response()
        reader.send_command("CLIENT", "TRACKING", "ON", "REDIRECT", self.listener_id)
        reader.read_response()
        self.reader, self.serializer = reader, client._serializer
        self.values, self.heard_at, self.ping_sent_at = {}, now, None

    def _close(self) -> None:
        for connection in (self.reader, self.listener):
            if connection is not None:
                with suppress(Exception):  # closing what already failed
                    connection.disconnect()
        self.reader = self.listener = None
        self.values, self.names = {}, {}

    def _hear(self, now: float) -> None:
        """Take the invalidations (and the ping's answer) sent since the last read."""
        # A reader closed by the server (its idle ``timeout``, a kill) is tracked no more.
        if self.reader.can_read(timeout=0):
            raise ConnectionError("the reader was sent what it did not ask for")
        listener = self.listener
        while listener.can_read(timeout=0):
            message = listener.read_response()
            self.heard_at, self.ping_sent_at = now, None
            if message[0] != b"message" or message[1] != INVALIDATIONS:
                continue  # the answer to a ping
            if message[2] is None:  # the database was flushed
                self.values = {}
            else:
                for key in message[2]:
                    self.values.pop(key, None)
        if self.ping_sent_at is not None:
            if now - self.ping_sent_at > PING_EVERY:
                raise ConnectionError("the invalidations' connection does not answer")
        elif now - self.heard_at > PING_EVERY:
            listener.send_command("PING")
            self.ping_sent_at = now

    def _get_many(self, keys: list[str], now: float) -> dict[str, Any]:
        if not self.local:
            self._hear(now)
        found: dict[str, Any] = {}
        missing: list[tuple[bytes, str]] = []
        max_age = app_settings.RELOAD_INTERVAL
        names = self.names
        for key in keys:
            redis_key = names.get(key)
            if redis_key is None:
                if len(names) >= MAX_KEPT:  # values go with their names (see forget)
                    names, self.values = {}, {}
                    self.names = names
                # The key as the cache makes it (prefix and version applied).
                redis_key = names[key] = cache.make_and_validate_key(key).encode()
            kept = self.values.get(redis_key)
            if kept is None or now - kept[0] >= max_age:
                missing.append((redis_key, key))
            elif kept[1] is not _ABSENT:
                found[key] = kept[1]
        if not missing:
            return found
        if len(self.values) + len(missing) > MAX_KEPT:
            self.values = {}
        read: Iterable[Any]  # each missing key's value, or _ABSENT, in order
        if self.local:
            missing_keys = list(map(itemgetter(1), missing))
            read = map(cache.get_many(missing_keys).get, missing_keys, repeat(_ABSENT))
        else:
            # Read with the lock held: an invalidation of what this read returns is
            # taken by the next read, after these values are kept, and forgets them.
            self.reader.send_command("MGET", *(redis_key for redis_key, _ in missing))
            loads = self.serializer.loads
            read = (
                _ABSENT if data is None else loads(data) for data in self.reader.read_response()
            )
        for (redis_key, key), value in zip(missing, read, strict=True):
            self.values[redis_key] = (now, value)
            if value is not _ABSENT:
                found[key] = value
        return found


def _supported(backend: Any) -> bool:
    """Django's own Redis backend on one server (with replicas, reads go elsewhere)."""
    client = getattr(backend, "_cache", None)
    return (
        isinstance(backend, RedisCache)
        and len(getattr(client, "_servers", ())) == 1
        and hasattr(client, "_get_connection_pool")
        and hasattr(client, "_serializer")
    )


near_cache = NearCache()


def near_get_many(keys: list[str]) -> dict[str, Any]:
    """The values of ``keys`` in the shared cache, as ``cache.get_many`` returns them."""
    return cache.get_many(keys) if near_cache.off else near_cache.get_many(keys)


def near_forget(*keys: str) -> None:
    """Forget what this process kept of ``keys``, which it just wrote."""
    near_cache.forget(keys)
