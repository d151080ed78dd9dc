"""A shopper's own recent events, as serving reads them: from the cache when it can.

The cache holds two entries per shopper: a small head (the digests that name the cached
lists), read in the same call as the rules and the shopper's generation, and the rows
themselves, read only when a list has to be computed. A repeat request reads the head
alone. :mod:`recommendations.receivers` keeps both current when events are saved.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property, partial
from operator import itemgetter
from typing import Any

import numpy as np
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.utils import timezone

from recommendations.adapters import SettingsAdapter
from recommendations.conf import PURCHASE, VIEW, app_settings
from recommendations.reasons import strongest_sources
from recommendations.serving.keys import (
    BOUGHT_CACHE_NAME,
    HISTORY_ROWS_CACHE_NAME,
    UserCache,
    digest,
    user_generation_key,
    user_head_key,
)
from recommendations.serving.loading import ServingModel
from recommendations.serving.near_cache import near_cache, near_forget

# Events of a shopper's own history used at serve time: the newest of each source.
HISTORY_LIMIT = 200
# Seconds two timestamps of one event may differ by (the database's and float precision).
SAME_TIME = 1e-3

HistoryRow = tuple[Any, str, float, Any]  # item key, source name, weight, timestamp
Loaded = tuple[tuple[HistoryRow, ...], frozenset[str] | None]


def is_user(user: Any) -> bool:
    """Whether ``user`` is a signed-in shopper (who has a history of their own)."""
    return user is not None and getattr(user, "is_authenticated", False)


@dataclass(frozen=True)
class Trained:
    """A history known to be the one a model was trained on: no event since its training.

    Its list, and what the shopper bought, come from the model's artifact; the rows are
    read only if something asks for them.
    """

    run_id: int
    newest: float  # Unix time of the newest event
    row: int  # the user's row in the model's matrices
    # The columns of the items bought and the model's item keys: a list served from the
    # cache never asks which keys they are, so they are looked up only when asked.
    bought_cols: np.ndarray = field(repr=False, compare=False)
    item_pks: np.ndarray = field(repr=False, compare=False)

    @cached_property
    def bought(self) -> frozenset[str]:
        """Keys (as strings) of the items bought: only a computed list asks for them."""
        return frozenset(map(str, self.item_pks[self.bought_cols].tolist()))


class History:
    """A shopper's own events (empty for anonymous or non-consenting shoppers), newest first."""

    def __init__(
        self,
        rows: Iterable[HistoryRow] = (),
        digests: tuple[str, str, bool] | None = None,
        bought_all: frozenset[str] | None = None,
        *,
        user_cache: UserCache | None = None,
        load: Callable[[], Loaded] | None = None,
        trained: Trained | None = None,
    ) -> None:
        self._rows = tuple(rows)
        # (fingerprint, bought_fingerprint, has events) when read from the head.
        self.digests = digests
        # Every item ever bought, read only when a purchase source fills its window.
        self._bought_all = bought_all
        # The signed-in shopper's cache (None for anonymous shoppers).
        self.user_cache = user_cache
        self._load = load
        self.trained = trained

    @classmethod
    def of(cls, adapter: SettingsAdapter, user: Any, model: ServingModel | None = None) -> History:
        """The history of any shopper, read from the cache when it holds it."""
        if not is_user(user):
            return cls()
        # The generation and the head in one round trip to a shared cache.
        generation_key, head_key = user_generation_key(user.pk), user_head_key(user.pk)
        values = cache.get_many([generation_key, head_key])
        user_cache = UserCache.of(user.pk, values.get(generation_key), read=True)
        return cls.from_head(adapter, user_cache, values.get(head_key), model)

    @classmethod
    def from_head(
        cls,
        adapter: SettingsAdapter,
        user_cache: UserCache,
        head: Any,
        model: ServingModel | None = None,
    ) -> History:
        """The history of a signed-in shopper whose cached head (or None) was read.

        Without a head, a shopper the serving ``model`` was trained on, with no event
        since, costs one small query (their newest event) instead of their history. A
        head past its time (kept in a process's memory: the near cache) counts as none.
        """
        if head is not None and head[0] == user_cache.generation and head[1] > time.time():
            marker = head[3] if len(head) > 3 else None
            if marker is None:
                return cls(
                    digests=head[2],
                    user_cache=user_cache,
                    load=partial(_rows_of, adapter, user_cache),
                )
            trained = _trained(model, user_cache.user_pk, marker[1])
            if trained is not None and trained.run_id == marker[0]:
                return cls._of_trained(adapter, user_cache, trained)
        trained = _trained_probe(adapter, model, user_cache.user_pk)
        if trained is not None:
            history = cls._of_trained(adapter, user_cache, trained)
            history.store(time.time() + history_timeout())
            return history
        return cls.read(adapter, user_cache)

    @classmethod
    def _of_trained(
        cls, adapter: SettingsAdapter, user_cache: UserCache, trained: Trained
    ) -> History:
        named = digest(("trained", trained.run_id, trained.newest))
        return cls(
            digests=(named, named, True),
            user_cache=user_cache,
            load=partial(_rows_read, adapter, user_cache),
            trained=trained,
        )

    @classmethod
    def read(cls, adapter: SettingsAdapter, user_cache: UserCache) -> History:
        """Read the history from the database and cache it."""
        rows, bought = _rows_read(adapter, user_cache)
        history = cls(rows, None, bought, user_cache=user_cache)
        # Read by every block of every page, yet rarely changed: kept for a while, and
        # kept current by the event sources' signals meanwhile.
        history.store(time.time() + history_timeout(), with_bought=True)
        return history

    def store(self, expires: float, *, with_bought: bool = False) -> None:
        """Cache the head, the rows and the items bought beyond them until ``expires``."""
        timeout = expires - time.time()
        if timeout <= 0 or self.user_cache is None:
            return
        user_cache = self.user_cache
        head_key = user_head_key(user_cache.user_pk)
        if self.trained is not None:  # the head alone: its rows are not read
            marker = (self.trained.run_id, self.trained.newest)
            head = (user_cache.generation, expires, self.digests, marker)
            cache.set(head_key, head, timeout)
            if near_cache.values:  # no call on the read path when nothing is kept
                near_cache.forget([head_key])
            return
        head = (
            user_cache.generation,
            expires,
            (self.fingerprint, self.bought_fingerprint, bool(self.rows)),
        )
        entries = {user_cache.key(HISTORY_ROWS_CACHE_NAME): list(self.rows), head_key: head}
        if with_bought and self._bought_all is not None:
            entries[user_cache.key(BOUGHT_CACHE_NAME)] = sorted(self._bought_all)
        # One round trip to a shared cache for all.
        cache.set_many(entries, timeout)
        if near_cache.values:
            near_cache.forget([head_key])

    @cached_property
    def _loaded(self) -> Loaded:
        return (self._rows, self._bought_all) if self._load is None else self._load()

    @cached_property
    def rows(self) -> tuple[HistoryRow, ...]:
        """The events as (item key, source, weight, timestamp), newest first."""
        return self._loaded[0]

    @cached_property
    def bought_all(self) -> frozenset[str] | None:
        """Every item ever bought, when the purchases fill the window; else None."""
        return self._loaded[1]

    def __bool__(self) -> bool:
        """Whether the shopper has any event (read from the head when cached)."""
        return self.digests[2] if self.digests is not None else bool(self.rows)

    def weights(self) -> dict[Any, float]:
        """Decayed weight per item, as training weighs events (negatives subtract)."""
        half_life = app_settings.HALF_LIFE_DAYS
        now = timezone.now()
        totals: dict[Any, float] = {}
        for item_pk, _source, weight, timestamp in self.rows:
            if half_life:
                age_days = max((now - timestamp).total_seconds(), 0.0) / 86400
                weight *= 0.5 ** (age_days / half_life)
            totals[item_pk] = totals.get(item_pk, 0.0) + weight
        return totals

    def newest_time(self) -> float | None:
        """Unix time of the newest event, or None without events."""
        if self.trained is not None:
            return self.trained.newest
        return self.rows[0][3].timestamp() if self.rows else None

    def source_of(self, item_pk: Any) -> str | None:
        """The source that gave ``item_pk`` the most weight here (a purchase first)."""
        if self.trained is not None and str(item_pk) in self.trained.bought:
            return next(iter(_purchase_sources_ordered()), None)
        return self._strongest.get(item_pk)

    @cached_property
    def _strongest(self) -> dict[Any, str]:
        return strongest_sources(self.rows)

    def bought(self) -> set[str]:
        """Keys of the items bought (the sources whose ``ROLE`` is ``"purchase"``)."""
        if self.trained is not None:
            return set(self.trained.bought)
        purchases = _purchase_sources()
        bought = {str(row[0]) for row in self.rows if row[1] in purchases}
        return bought if self.bought_all is None else bought | self.bought_all

    @cached_property
    def fingerprint(self) -> str:
        """A digest of what the shopper interacted with and how, for the personal list.

        Each distinct (item, source, weight) counts once: a new item, a purchase or a
        changed rating changes it, a repeat view of an item does not (it would change
        every product page); repeats and time decay apply when the list expires.
        """
        if self.digests is not None:
            return self.digests[0]
        return digest(sorted(_triples(self.rows)))

    @cached_property
    def bought_fingerprint(self) -> str:
        """A digest of the bought items, all that lists other than the personal one use."""
        if self.digests is not None:
            return self.digests[1]
        return digest(sorted(self.bought()))

    def viewed(self) -> list[Any]:
        """Viewed items (of the ``ROLE`` ``"view"`` sources), newest first, each once."""
        views = set(app_settings.source_names(VIEW))
        return list(dict.fromkeys(row[0] for row in self.rows if row[1] in views))


def _rows_of(adapter: SettingsAdapter, user_cache: UserCache) -> Loaded:
    cached = user_cache.get(HISTORY_ROWS_CACHE_NAME)
    if cached is None:  # evicted apart from its head: read again
        fresh = History.read(adapter, user_cache)
        return fresh.rows, fresh.bought_all
    rows = tuple(cached)
    return rows, bought_beyond(adapter, user_cache, rows)


def history_timeout() -> float:
    """Seconds a shopper's cached history is trusted (``HISTORY_TIMEOUT``).

    By default ``RELOAD_INTERVAL`` with a local-memory cache: each process has its own,
    and an event saved in one process updates that one only, so the others read the
    history again this often. A shared cache (Redis, Memcached, database, files) is
    kept current for every process by the event sources' signals: the history is then
    kept ``CACHE_TIMEOUT`` seconds, which only events written without signals (bulk
    imports, raw SQL) wait for. Under many shoppers it spares most requests a read of
    their history.
    """
    configured = app_settings.HISTORY_TIMEOUT
    if configured is not None:
        return float(configured)
    if isinstance(caches[DEFAULT_CACHE_ALIAS], LocMemCache):
        return float(app_settings.RELOAD_INTERVAL)
    return float(app_settings.CACHE_TIMEOUT)


def _purchase_sources() -> set[str]:
    return set(app_settings.source_names(PURCHASE))


def _purchase_sources_ordered() -> list[str]:
    return list(app_settings.source_names(PURCHASE))


def _trained(
    model: ServingModel | None, user_pk: Any, newest: float, row: int | None = None
) -> Trained | None:
    """The trained history of a user whose newest event is at ``newest``, if the model's.

    ``row``: the user's row in the model, when the caller looked it up already.
    """
    lists = None if model is None else model.user_lists
    if lists is None or app_settings.REPEAT_PURCHASE_CATEGORIES:
        return None
    row = model.user_row(user_pk) if row is None else row
    if row is None or not abs(newest - float(lists.newest[row])) <= SAME_TIME:
        return None  # NaN (no list for this user) never matches
    cols = lists.bought_cols(row)
    if cols is None:
        return None
    return Trained(
        run_id=model.run_id, newest=newest, row=row, bought_cols=cols, item_pks=model.item_pks
    )


def _trained_probe(
    adapter: SettingsAdapter, model: ServingModel | None, user_pk: Any
) -> Trained | None:
    """The trained history of a user with no event since the model's training, or None."""
    lists = None if model is None else model.user_lists
    row = None if lists is None or lists.bought_indptr is None else model.user_row(user_pk)
    if row is None:
        return None
    newest = adapter.user_newest(user_pk)
    if newest is None or newest.time is None or not newest.consents:
        return None
    return _trained(model, user_pk, newest.time.timestamp(), row)


def _rows_read(adapter: SettingsAdapter, user_cache: UserCache) -> Loaded:
    """A history's rows and the items bought beyond them, read from the database.

    (A trained history reads them when asked for, and does not cache them: its head says
    it is the trained one, and stays until an event moves it on.)
    """
    read = adapter.user_history(user_cache.user_pk, limit=HISTORY_LIMIT)
    rows = tuple(map(tuple, read.events))  # (item key, source, weight, time), as cached
    return rows, bought_beyond(adapter, user_cache, rows, known=read.bought)


def bought_beyond(
    adapter: SettingsAdapter,
    user_cache: UserCache,
    rows: tuple[HistoryRow, ...],
    *,
    known: frozenset[str] | None = None,
) -> frozenset[str] | None:
    """Every item the user bought, when a purchase source fills its window; else None.

    ``known``: the items bought, when read with the rows. Otherwise cached for
    ``CACHE_TIMEOUT`` seconds, longer than the history: newer purchases are in the
    window anyway, and the items beyond it never change.
    """
    counts = Counter(map(itemgetter(1), rows))
    full = {source for source, count in counts.items() if count >= HISTORY_LIMIT}
    if not full & _purchase_sources():
        return None
    if known is not None:
        return known
    bought = user_cache.get(BOUGHT_CACHE_NAME)
    if bought is None:
        bought = sorted(adapter.user_bought(user_cache.user_pk))
        user_cache.set(BOUGHT_CACHE_NAME, bought)
    return frozenset(bought)


def _triples(rows: Iterable[HistoryRow]) -> set[tuple[str, str, float]]:
    """What of a history names its personal list: each (item, source, weight) once."""
    return {(str(pk), source, weight) for pk, source, weight, _ in rows}


def _window(rows: Iterable[HistoryRow]) -> tuple[HistoryRow, ...]:
    """The newest ``HISTORY_LIMIT`` rows of each source (rows are newest first)."""
    counts: Counter[str] = Counter()
    kept = []
    for row in rows:
        counts[row[1]] += 1
        if counts[row[1]] <= HISTORY_LIMIT:
            kept.append(row)
    return tuple(kept)


def history_event_add(adapter: SettingsAdapter, user_pk: Any, row: HistoryRow) -> None:
    """Add a new event to a user's cached history, or drop it when it is not cached whole.

    Every page view of a signed-in shopper comes here: two round trips to a shared
    cache (the generation and head, then the rows) and one write. A view leaves what
    was bought as it was, and a repeat one what names the personal list too.
    """
    generation_key, head_key = user_generation_key(user_pk), user_head_key(user_pk)
    values = cache.get_many([generation_key, head_key])
    generation, head = values.get(generation_key), values.get(head_key)
    if generation is None or head is None or head[0] != generation:
        history_forget(user_pk)
        return
    user_cache = UserCache(user_pk, generation)
    cached = user_cache.get(HISTORY_ROWS_CACHE_NAME)
    if not cached:
        history_forget(user_pk)
        return
    rows = _window((row, *cached))
    if row[1] not in _purchase_sources():
        triples = _triples(rows)
        fingerprint = head[2][0] if triples == _triples(cached) else digest(sorted(triples))
        History(rows, (fingerprint, head[2][1], True), user_cache=user_cache).store(head[1])
        return
    History(rows, None, bought_beyond(adapter, user_cache, rows), user_cache=user_cache).store(
        head[1]
    )


def history_forget(user_pk: Any) -> None:
    """Drop a user's cached history (the lists named by it are left behind with it)."""
    cache.delete(user_head_key(user_pk))
    near_forget(user_head_key(user_pk))
