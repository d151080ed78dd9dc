"""Reads of the recommendations app: the lists the template tags and the API show.

Every list is built the same way: ranked candidates from the layers that apply
(personal -> session -> trending -> popular), then the business rules of
:mod:`recommendations.rules`, then the catalog instances of the survivors and the
items named in reasons, fetched together in one query. Popularity comes from the
database when no model was ever trained, and the available catalog itself is the
last resort, so no list is empty while the catalog has an available item.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.apps import apps
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import DEFAULT_CACHE_ALIAS, cache, caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db import models
from django.db.models import Count
from django.db.models.signals import post_delete, post_save
from django.utils import timezone

from recommendations import reasons
from recommendations.adapters import Event, SettingsAdapter, get_adapter
from recommendations.conf import PURCHASE, VIEW, app_settings
from recommendations.engine.base import Recommender
from recommendations.experiments import model_for_user
from recommendations.rules import (
    RULES_CACHE_KEY,
    BlockRules,
    Candidate,
    Filters,
    apply_rules,
    block_rules,
)
from recommendations.services import CATALOG_CHANGED_KEY, catalog_changed
from recommendations.serving import ServingModel

logger = logging.getLogger(__name__)

DEFAULT_N = 8
HISTORY_CACHE_NAME = "history"
HISTORY_ROWS_CACHE_NAME = "history-rows"
BOUGHT_CACHE_NAME = "bought"
FEATURES_CACHE_NAME = "features"
# Computed lists are cached per user under names with this prefix, a few per user.
LIST_CACHE_PREFIX = "list:"
MAX_CACHED_LISTS = 256
# Events of a shopper's own history used at serve time: the newest of each source.
HISTORY_LIMIT = 200
MAX_N = 100
# Candidates asked from each layer: enough to survive the rules without a second pass.
OVERFETCH_FACTOR = 3
OVERFETCH_EXTRA = 10
# The source a reason names for an item viewed in this session but not in the history.
VIEW_SOURCE = "view"

PERSONAL = "personal"
SESSION = "session"
SIMILAR = "similar"
BOUGHT_TOGETHER = "bought_together"
TRENDING = "trending"
POPULAR = "popular"
PINNED = "pinned"
RECENTLY_VIEWED = "recently_viewed"
CATALOG = "catalog"


@dataclass(frozen=True)
class Recommendation:
    """One item of a list with the reason it is shown and the layer that chose it."""

    item: Any
    score: float
    reason: str
    source: str
    # The training run that chose it (None before any training): impressions record it.
    run_id: int | None = None
    # Label, page and price as computed when the list was, kept with a cached list.
    known: tuple[str, str | None, Any] | None = field(default=None, repr=False, compare=False)

    @property
    def label(self) -> str:
        """The item's display name."""
        return self.known[0] if self.known else get_adapter().item_label(self.item)

    @property
    def url(self) -> str | None:
        """The item's page, when the catalog model has ``get_absolute_url``."""
        if self.known:
            return self.known[1]
        get_absolute_url = getattr(self.item, "get_absolute_url", None)
        return get_absolute_url() if callable(get_absolute_url) else None

    @property
    def price(self) -> Any:
        """The item's price (``CATALOG["PRICE_FIELD"]``), or None."""
        if self.known and len(self.known) > 2:
            return self.known[2]
        return get_adapter().item_price(self.item)


@dataclass
class _Layer:
    """Ranked candidates of one source, and what explains them."""

    source: str
    ranked: list[tuple[Any, float]]
    # Personal and session layers: the recommender and history row behind ``explain``.
    recommender: Recommender | None = None
    row: sp.csr_matrix | None = None
    anchor_pks: list[Any] = field(default_factory=list)


HistoryRow = tuple[Any, str, float, Any]  # item key, source name, weight, timestamp


class _History:
    """A shopper's own events (empty for anonymous or non-consenting shoppers).

    Kept as plain rows, newest first. The cache holds two entries per shopper: a small
    head (the digests that name the cached lists) and the rows themselves, read only
    when a list has to be computed. A repeat request reads the head alone.
    """

    def __init__(
        self,
        rows: Iterable[HistoryRow] = (),
        digests: tuple[str, str, bool] | None = None,
        bought_all: frozenset[str] | None = None,
        *,
        load: Callable[[], tuple[tuple[HistoryRow, ...], frozenset[str] | None]] | None = None,
    ) -> None:
        self._rows = tuple(rows)
        # (fingerprint, bought_fingerprint, has events) when read from the head.
        self.digests = digests
        # Every item ever bought, read only when a purchase source fills its window.
        self._bought_all = bought_all
        self._load = load

    @classmethod
    def of(cls, adapter: SettingsAdapter, user: Any) -> _History:
        if not _is_user(user):
            return cls()
        return cls.from_head(adapter, user, user_cache_get(user.pk, HISTORY_CACHE_NAME))

    @classmethod
    def from_head(cls, adapter: SettingsAdapter, user: Any, head: Any) -> _History:
        """The history of a signed-in ``user`` whose cached head (or None) was read."""
        if head is not None:
            return cls(digests=head[1], load=lambda: cls._rows_of(adapter, user.pk))
        return cls._read(adapter, user.pk)

    @classmethod
    def _read(cls, adapter: SettingsAdapter, user_pk: Any) -> _History:
        """Read the history from the database and cache it."""
        history_signals_connect()
        events = adapter.user_events(user_pk, limit=HISTORY_LIMIT)
        rows = tuple((e.item_pk, e.source, e.weight, e.timestamp) for e in events)
        history = cls(rows, None, _bought_beyond(adapter, user_pk, rows))
        # Read by every block of every page, yet rarely changed: kept for a while, and
        # kept current by the event sources' signals meanwhile.
        history.store(user_pk, time.time() + history_timeout())
        return history

    @staticmethod
    def _rows_of(
        adapter: SettingsAdapter, user_pk: Any
    ) -> tuple[tuple[HistoryRow, ...], frozenset[str] | None]:
        cached = user_cache_get(user_pk, HISTORY_ROWS_CACHE_NAME)
        if cached is None:  # evicted apart from its head: read again
            fresh = _History._read(adapter, user_pk)
            return fresh.rows, fresh.bought_all
        rows = tuple(cached)
        return rows, _bought_beyond(adapter, user_pk, rows)

    def store(self, user_pk: Any, expires: float) -> None:
        """Cache the head and the rows until ``expires`` (a time.time() value)."""
        timeout = expires - time.time()
        if timeout <= 0:
            return
        head = (expires, (self.fingerprint, self.bought_fingerprint, bool(self.rows)))
        user_cache_set(user_pk, HISTORY_ROWS_CACHE_NAME, list(self.rows), timeout=timeout)
        user_cache_set(user_pk, HISTORY_CACHE_NAME, head, timeout=timeout)

    @cached_property
    def _loaded(self) -> tuple[tuple[HistoryRow, ...], frozenset[str] | None]:
        return (self._rows, self._bought_all) if self._load is None else self._load()

    @property
    def rows(self) -> tuple[HistoryRow, ...]:
        return self._loaded[0]

    @property
    def bought_all(self) -> frozenset[str] | None:
        return self._loaded[1]

    def __bool__(self) -> bool:
        """Whether the shopper has any event (read from the head when cached)."""
        return self.digests[2] if self.digests is not None else bool(self.rows)

    @cached_property
    def events(self) -> list[Event]:
        return [Event(*row) for row in self.rows]

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

    def bought(self) -> set[str]:
        """Keys of the items bought (the sources whose ``ROLE`` is ``"purchase"``)."""
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
        return _digest(sorted({(str(pk), source, weight) for pk, source, weight, _ in self.rows}))

    @cached_property
    def bought_fingerprint(self) -> str:
        """A digest of the bought items, all that lists other than the personal one use."""
        if self.digests is not None:
            return self.digests[1]
        return _digest(sorted(self.bought()))

    def viewed(self) -> list[Any]:
        """Viewed items (of the ``ROLE`` ``"view"`` sources), newest first, each once."""
        views = set(app_settings.source_names(VIEW))
        return list(dict.fromkeys(row[0] for row in self.rows if row[1] in views))


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


def _bought_beyond(
    adapter: SettingsAdapter, user_pk: Any, rows: tuple[HistoryRow, ...]
) -> frozenset[str] | None:
    """Every item the user bought, when a purchase source fills its window; else None.

    Cached for ``CACHE_TIMEOUT`` seconds, longer than the history: newer purchases are
    in the window anyway, and the items beyond it never change.
    """
    sources = _purchase_sources()
    purchases = Counter(row[1] for row in rows if row[1] in sources)
    if not any(count >= HISTORY_LIMIT for count in purchases.values()):
        return None
    bought = user_cache_get(user_pk, BOUGHT_CACHE_NAME)
    if bought is None:
        bought = sorted(adapter.user_bought(user_pk))
        user_cache_set(user_pk, BOUGHT_CACHE_NAME, bought, timeout=app_settings.CACHE_TIMEOUT)
    return frozenset(bought)


def _window(rows: Iterable[HistoryRow]) -> tuple[HistoryRow, ...]:
    """The newest ``HISTORY_LIMIT`` rows of each source (rows are newest first)."""
    counts: Counter[str] = Counter()
    kept = []
    for row in rows:
        counts[row[1]] += 1
        if counts[row[1]] <= HISTORY_LIMIT:
            kept.append(row)
    return tuple(kept)


def shopper_history(*, user: Any) -> _History:
    """The shopper's own recent events, read once and shared by the blocks of a page."""
    return _History.of(get_adapter(), user)


def _list_inputs(
    adapter: SettingsAdapter, user: Any, history: _History | None, block: str
) -> tuple[_History, BlockRules, float]:
    """The shopper's history, the block's rules and when the catalog last changed.

    Every list needs all three first: they are read from the cache in one call (one
    round trip to a shared cache instead of three).
    """
    keys = [RULES_CACHE_KEY, CATALOG_CHANGED_KEY]
    read_head = history is None and _is_user(user)
    if read_head:
        keys.append(user_cache_key(user.pk, HISTORY_CACHE_NAME))
    values = cache.get_many(keys)
    if read_head:
        history = _History.from_head(adapter, user, values.get(keys[-1]))
    elif history is None:
        history = _History()  # anonymous
    rules = block_rules(block=block, rows=values.get(RULES_CACHE_KEY))
    return history, rules, values.get(CATALOG_CHANGED_KEY, 0.0)


def _overfetch(n: int, filters: Filters) -> int:
    # Items the engine skips (``_engine_blocked``) cost nothing; the rest may be dropped.
    bought = len(filters.bought) if app_settings.REPEAT_PURCHASE_CATEGORIES else 0
    return OVERFETCH_FACTOR * n + OVERFETCH_EXTRA + len(filters.blocked) + bought


def _engine_blocked(filters: Filters) -> set[str]:
    """Items the engine need not rank: blocked ones, and bought ones unless a category repeats."""
    if app_settings.REPEAT_PURCHASE_CATEGORIES:
        return filters.blocked
    return filters.blocked | filters.bought


def _row(model: ServingModel, weights: dict[Any, float]) -> sp.csr_matrix | None:
    """The 1 x n_items interaction row of a history, or None when nothing is known."""
    cols, data = [], []
    for pk, weight in weights.items():
        col = model.item_col(pk)
        if col is not None and weight > 0 and math.isfinite(weight):
            cols.append(col)
            data.append(weight)
    if not cols:
        return None
    return sp.csr_matrix(
        (np.asarray(data, dtype=np.float32), (np.zeros(len(cols), dtype=np.int64), cols)),
        shape=(1, model.item_pks.size),
    )


def _cols(model: ServingModel, pks: Iterable[Any]) -> list[int]:
    return [col for col in (model.item_col(pk) for pk in pks) if col is not None]


def _ranked(
    model: ServingModel,
    recommender: Recommender,
    *,
    k: int,
    row: sp.csr_matrix | None = None,
    blocked: Iterable[Any] = (),
    allowed: Iterable[Any] | None = None,
    user_features: Any = None,
) -> list[tuple[Any, float]]:
    """Top ``k`` (item key, score) of a recommender; an engine error yields nothing."""
    if row is None:
        row = sp.csr_matrix((1, model.item_pks.size), dtype=np.float32)
    allowed_cols = None if allowed is None else _cols(model, allowed)
    if allowed_cols == []:
        return []
    try:
        cols, scores = recommender.recommend_interactions(
            row,
            k,
            user_features=user_features,
            exclude_seen=False,
            blocked=_cols(model, blocked),
            allowed=allowed_cols,
        )
    except (ValueError, IndexError) as exc:
        # A list falls back to the next layer rather than failing the page.
        logger.warning("%s could not rank (run %s): %s", recommender, model.run_id, exc)
        return []
    return _positive(model, cols, scores)


# Trending and popularity rank every shopper alike: a model's whole order is computed
# once per process and walked per request, skipping what the shopper may not see.
_GLOBAL_ORDERS: dict[int, tuple[Recommender, list[tuple[Any, str, float]]]] = {}
MAX_GLOBAL_ORDERS = 8


def _global_ranked(
    model: ServingModel,
    recommender: Recommender,
    *,
    k: int,
    blocked: set[str],
    allowed: Iterable[Any] | None = None,
) -> list[tuple[Any, float]]:
    """Top ``k`` (item key, score) of a recommender that ranks everyone the same."""
    entry = _GLOBAL_ORDERS.get(id(recommender))
    if entry is None or entry[0] is not recommender:
        ranked = _ranked(model, recommender, k=int(model.item_pks.size))
        while len(_GLOBAL_ORDERS) >= MAX_GLOBAL_ORDERS:
            del _GLOBAL_ORDERS[next(iter(_GLOBAL_ORDERS))]
        # Holding the recommender keeps its id from being reused by another one.
        entry = (recommender, [(pk, str(pk), score) for pk, score in ranked])
        _GLOBAL_ORDERS[id(recommender)] = entry
    allowed_keys = None if allowed is None else {str(pk) for pk in allowed}
    result = []
    for pk, key, score in entry[1]:
        if key in blocked or (allowed_keys is not None and key not in allowed_keys):
            continue
        result.append((pk, score))
        if len(result) >= k:
            break
    return result


def _positive(
    model: ServingModel, cols: np.ndarray, scores: np.ndarray
) -> list[tuple[Any, float]]:
    """(item key, score) pairs, dropping zero scores: no signal is not a recommendation."""
    keep = scores > 0
    return list(zip(model.item_pks_of(cols[keep]), scores[keep].tolist(), strict=True))


def _similar(
    model: ServingModel, item_pk: Any, *, k: int, blocked: Iterable[Any]
) -> list[tuple[Any, float]]:
    col = model.item_col(item_pk)
    if col is None:
        return []
    try:
        cols, scores = model.similar.similar_items(col, k, blocked=_cols(model, blocked))
    except (ValueError, IndexError) as exc:
        logger.warning("No similar items for %s (run %s): %s", item_pk, model.run_id, exc)
        return []
    return _positive(model, cols, scores)


def _popular_from_db(k: int) -> list[tuple[Any, float]]:
    """Most frequent items of the positive event sources, when no model exists yet."""
    key = f"recommendations:popular-db:{k}"
    ranked = cache.get(key)
    if ranked is None:
        totals: dict[Any, float] = {}
        # Bounded per account (recommendations.trust): distinct buyers, not events.
        buyers = set(app_settings.source_names(PURCHASE)) if app_settings.TRUST_ENABLED else set()
        for source in app_settings.EVENT_SOURCES:
            if source.value_field or source.weight <= 0 or (buyers and source.name not in buyers):
                continue
            counted = Count(source.user_field, distinct=True) if buyers else Count("pk")
            rows = (
                apps.get_model(source.model)
                ._default_manager.filter(**source.filter)
                .values_list(source.item_field)
                .annotate(events=counted)
                .order_by("-events")[:k]
            )
            for pk, events in rows:
                totals[pk] = totals.get(pk, 0.0) + source.weight * events
        ranked = sorted(totals.items(), key=lambda pair: (-pair[1], str(pair[0])))[:k]
        cache.set(key, ranked, app_settings.CACHE_TIMEOUT)
    return ranked


# -- per-user cache -----------------------------------------------------------------------
# Anything cached about one user goes through these, so deleting the account can find
# and delete it at once (recommendations.privacy.user_forget); a cache cannot list keys.


def user_cache_key(user_pk: Any, name: str) -> str:
    """The cache key of ``name`` computed for one user."""
    return f"recommendations:user:{user_pk}:{name}"


def user_cache_index_key(user_pk: Any) -> str:
    """The cache key listing the names cached for one user."""
    return f"recommendations:user:{user_pk}"


def user_cache_get(user_pk: Any, name: str, default: Any = None) -> Any:
    """A value cached for one user, or ``default``."""
    return cache.get(user_cache_key(user_pk, name), default)


def user_cache_set(user_pk: Any, name: str, value: Any, *, timeout: float | None = None) -> None:
    """Cache a value computed for one user for ``timeout`` (default ``CACHE_TIMEOUT``) seconds."""
    index = user_cache_index_key(user_pk)
    names = cache.get(index) or []
    if name not in names:
        cache.set(index, [*names, name], None)
    timeout = app_settings.CACHE_TIMEOUT if timeout is None else timeout
    cache.set(user_cache_key(user_pk, name), value, timeout)


def _digest(value: Any) -> str:
    """A short stable digest of a value made of str, numbers, datetimes and lists."""
    return hashlib.blake2b(repr(value).encode(), digest_size=12).hexdigest()


def _user_list_set(user_pk: Any, name: str, value: Any, *, timeout: float) -> None:
    """Cache a computed list for one user, keeping at most ``MAX_CACHED_LISTS`` of them.

    Each list has its own key (a hit reads only its list) named in the user's index,
    so :func:`recommendations.privacy.user_cache_delete` still finds every one; the
    oldest lists are deleted, not just forgotten by the index.
    """
    index = user_cache_index_key(user_pk)
    names = cache.get(index) or []
    lists = [other for other in names if other.startswith(LIST_CACHE_PREFIX) and other != name]
    stale = set(lists[: max(len(lists) - MAX_CACHED_LISTS + 1, 0)])
    if stale:
        cache.delete_many([user_cache_key(user_pk, other) for other in stale])
        for other in stale:
            _served.pop((user_pk, other), None)
        cache.set(index, [other for other in names if other not in stale], None)
    user_cache_set(user_pk, name, value, timeout=timeout)


def _lookup_value(instance: models.Model, lookup: str) -> Any:
    """The value at the end of ``lookup`` (``order__user``) from one row, or None."""
    *relations, last = lookup.split("__")
    target: Any = instance
    for relation in relations:
        target = getattr(target, relation, None)
        if target is None:
            return None
    try:
        # The column (``user_id``), not the related row: no query for the last step.
        return getattr(target, target._meta.get_field(last).attname, None)
    except (AttributeError, FieldDoesNotExist):
        return None


def _history_changed(
    sender: type[models.Model], instance: models.Model, created: bool = False, **kwargs: Any
) -> None:
    """Keep the cached history of an event row's user current, or drop it.

    A new row of a source without FILTER or VALUE_FIELD (a product view) is added to
    the cached history, so a page view does not cost the next page a fresh read; any
    other change drops it. An empty history is dropped too: it may mean no consent.
    """
    for source in app_settings.EVENT_SOURCES:
        if apps.get_model(source.model) is not sender:
            continue
        user_pk = _lookup_value(instance, source.user_field)
        if user_pk is None:
            continue
        simple = created and not source.filter and not source.value_field and source.weight
        head = user_cache_get(user_pk, HISTORY_CACHE_NAME) if simple else None
        cached = user_cache_get(user_pk, HISTORY_ROWS_CACHE_NAME) if head else None
        item_pk = _lookup_value(instance, source.item_field)
        timestamp = _lookup_value(instance, source.time_field)
        if cached and item_pk is not None and timestamp is not None:
            event = (item_pk, source.name, float(source.weight), timestamp)
            rows = _window((event, *cached))
            bought_all = _bought_beyond(get_adapter(), user_pk, rows)
            _History(rows, None, bought_all).store(user_pk, head[0])
        else:
            _history_forget(user_pk)


def _history_forget(user_pk: Any) -> None:
    cache.delete_many(
        [user_cache_key(user_pk, name) for name in (HISTORY_CACHE_NAME, HISTORY_ROWS_CACHE_NAME)]
    )


def _consent_changed(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    """Drop the cached history when the row holding a user's consent changes."""
    user_pk = instance.pk if sender is get_user_model() else _consent_holder(sender, instance)
    if user_pk is not None:
        _history_forget(user_pk)


def _consent_holder(sender: type[models.Model], instance: models.Model) -> Any:
    """The user of a row that holds a consent one relation away from the user."""
    if not app_settings.CONSENT_FIELD:
        return None  # the setting changed since the signal was connected (tests do)
    relation = get_user_model()._meta.get_field(app_settings.CONSENT_FIELD.split("__")[0])
    if relation.related_model is not sender or not hasattr(relation, "field"):
        return None
    return getattr(instance, relation.field.attname, None)


def _catalog_changed(**kwargs: Any) -> None:
    catalog_changed()


def history_signals_connect() -> None:
    """Listen to saves and deletes of the event sources, the catalog and the consent.

    Connected at startup (``AppConfig.ready``) so that with a shared cache an event saved
    by any process reaches what every process reads, and again whenever a history is
    read or a list cached (the setting may have changed since, as tests change it).
    """
    catalog = get_adapter().catalog_model()
    uid = f"recommendations-catalog-{catalog._meta.label_lower}"
    post_save.connect(_catalog_changed, sender=catalog, dispatch_uid=uid)
    post_delete.connect(_catalog_changed, sender=catalog, dispatch_uid=uid)
    for source in app_settings.EVENT_SOURCES:
        model = apps.get_model(source.model)
        uid = f"recommendations-history-{model._meta.label_lower}"
        post_save.connect(_history_changed, sender=model, dispatch_uid=uid)
        post_delete.connect(_history_changed, sender=model, dispatch_uid=uid)
    lookup = app_settings.CONSENT_FIELD
    if lookup and lookup.count("__") <= 1:
        # The consent is on the user or one relation away (a profile); further away,
        # a change shows after RELOAD_INTERVAL seconds.
        holder = get_user_model()
        if "__" in lookup:
            holder = holder._meta.get_field(lookup.split("__")[0]).related_model
        uid = f"recommendations-consent-{holder._meta.label_lower}"
        post_save.connect(_consent_changed, sender=holder, dispatch_uid=uid)


def _fallback_layers(
    model: ServingModel | None, *, k: int, filters: Filters, category_pks: list[Any] | None
) -> list[_Layer]:
    """Trending then popular: the same for every shopper."""
    if model is None:
        return [_Layer(POPULAR, _popular_from_db(k))]
    return [
        _Layer(
            TRENDING,
            _global_ranked(
                model, model.trending, k=k, blocked=_engine_blocked(filters), allowed=category_pks
            ),
        ),
        _Layer(
            POPULAR,
            _global_ranked(
                model,
                model.popularity,
                k=k,
                blocked=_engine_blocked(filters),
                allowed=category_pks,
            ),
        ),
    ]


def _related_paths(model: type[models.Model], lookups: Iterable[str | None]) -> list[str]:
    """The forward relations crossed by ``lookups``, for select_related."""
    paths = []
    for lookup in lookups:
        current, path = model, []
        for part in (lookup or "").split("__"):
            try:
                related = current._meta.get_field(part)
            except FieldDoesNotExist:
                break
            if not (related.many_to_one or related.one_to_one):
                break
            path.append(part)
            current = related.related_model
        if path:
            paths.append("__".join(path))
    return paths


def _valid_pks(catalog: type[models.Model], pks: Iterable[Any]) -> list[Any]:
    """Keys the catalog's primary key accepts, each once; a mistyped rule key is skipped."""
    field_ = catalog._meta.pk
    valid = []
    for pk in pks:
        try:
            valid.append(field_.to_python(pk))
        except ValidationError:
            continue
    return list(dict.fromkeys(valid))


@dataclass(frozen=True)
class _Row:
    """An available item as the rules see it: its key and category, no model instance."""

    pk: Any
    category: str | None


def _row_category(row: _Row) -> str | None:
    return row.category


def _available_rows(
    adapter: SettingsAdapter, queryset: models.QuerySet, *, limit: int | None = None
) -> dict[str, _Row]:
    """Key and category of the items of ``queryset`` by string key, in one query."""
    category = adapter.category_lookup()
    rows = queryset.values_list("pk", category) if category else queryset.values_list("pk", "pk")
    if limit is not None:
        rows = rows.order_by("pk")[:limit]
    return {
        str(pk): _Row(pk, None if not category or value is None else str(value))
        for pk, value in rows
    }


def _available(
    adapter: SettingsAdapter, pks: Iterable[Any], *, rule_pks: Iterable[Any] = ()
) -> dict[str, _Row]:
    """The available items among ``pks`` (typed keys) and ``rule_pks`` (staff-typed text)."""
    keys = list(dict.fromkeys([*pks, *_valid_pks(adapter.catalog_model(), rule_pks)]))
    return _available_rows(adapter, adapter.available_items().filter(pk__in=keys)) if keys else {}


def _instances(adapter: SettingsAdapter, pks: Iterable[Any]) -> dict[str, Any]:
    """Catalog instances by string key, with the relations labels and reasons read."""
    catalog = adapter.catalog_model()
    pks = _valid_pks(catalog, pks)
    if not pks:
        return {}
    related = _related_paths(catalog, (app_settings.CATEGORY_FIELD, app_settings.LABEL_FIELD))
    items = catalog._default_manager.select_related(*related).in_bulk(pks)
    return {str(pk): item for pk, item in items.items()}


def _category_pks(adapter: SettingsAdapter, category: str | None) -> list[Any] | None:
    """Keys of the available items of a category (None: no category filter)."""
    lookup = adapter.category_lookup()
    if category is None or not lookup:
        return None
    try:
        return list(
            adapter.available_items().filter(**{lookup: category}).values_list("pk", flat=True)
        )
    except (ValueError, TypeError, OverflowError, ValidationError):
        raise ValueError(f"{category!r} is not a valid category key.") from None


@dataclass(frozen=True)
class _Explainer:
    """Turns a chosen candidate into its reason, from the shopper's own data only."""

    adapter: SettingsAdapter
    model: ServingModel | None
    sources: dict[Any, str]

    def _explained(self, layer: _Layer, pks: list[Any], n: int) -> list[list[Any]]:
        """History items (keys) that contributed most to each of ``pks`` in ``layer``."""
        if self.model is None or layer.recommender is None or layer.row is None:
            return [[] for _ in pks]
        cols = [self.model.item_col(pk) for pk in pks]
        known = [col for col in cols if col is not None]
        try:
            # One vectorised call for the whole list, not one per item.
            explained = iter(layer.recommender.explain_batch(known, interactions=layer.row, n=n))
        except (ValueError, IndexError, NotImplementedError):
            return [[] for _ in pks]
        return [
            []
            if col is None
            else [self.model.item_pk(history_col) for history_col, _share in next(explained)]
            for col in cols
        ]

    def named(self, chosen: list[Candidate], layers: list[_Layer | None]) -> list[list[Any]]:
        """Keys of the items the reason of each chosen candidate may name, best first."""
        named: list[list[Any]] = [[] for _ in chosen]
        by_layer: dict[int, tuple[_Layer, list[int]]] = {}
        for position, layer in enumerate(layers):
            if layer is not None:
                by_layer.setdefault(id(layer), (layer, []))[1].append(position)
        for layer, positions in by_layer.values():
            if layer.source not in (PERSONAL, SESSION, SIMILAR, BOUGHT_TOGETHER):
                continue
            personal = layer.source in (PERSONAL, SESSION)
            pks = [chosen[position].pk for position in positions]
            explained = self._explained(layer, pks, 3 if personal else 1)
            for position, names in zip(positions, explained, strict=True):
                named[position] = names if personal else (names + layer.anchor_pks)[:1]
        return named

    def reason(
        self, item: Any, layer: _Layer | None, named: list[Any], items: dict[str, Any]
    ) -> str:
        """Why ``item`` is shown; ``items`` holds the instances of the ``named`` keys."""
        if layer is None:
            return reasons.PINNED
        if layer.source in (PERSONAL, SESSION):
            for pk in named:
                if str(pk) in items:
                    label = self.adapter.item_label(items[str(pk)])
                    source = self.sources.get(pk) or next(
                        iter(app_settings.source_names(VIEW)), VIEW_SOURCE
                    )
                    return reasons.because_you(source=source, label=label)
            # A personal model that cannot point at the history (popularity) says so.
            return reasons.POPULAR
        if layer.source in (SIMILAR, BOUGHT_TOGETHER):
            if named and str(named[0]) in items:
                label = self.adapter.item_label(items[str(named[0])])
                return reasons.customers_also_bought(label=label)
            return reasons.POPULAR
        if layer.source == TRENDING:
            return reasons.trending_in(category_label=self.adapter.category_label(item))
        return {RECENTLY_VIEWED: reasons.RECENTLY_VIEWED, CATALOG: reasons.CATALOG}.get(
            layer.source, reasons.POPULAR
        )


def _assemble(
    *,
    adapter: SettingsAdapter,
    model: ServingModel | None,
    layers: list[_Layer],
    rules: BlockRules,
    filters: Filters,
    n: int,
    history: _History,
) -> list[Recommendation]:
    """Apply the rules across the layers in order and attach instances and reasons.

    Two queries whatever ``n``: keys and categories of the available candidates (no
    model instances) for the rules, then the instances of the chosen items and of the
    items their reasons name.
    """
    candidates: list[Candidate] = []
    layer_of: dict[str, _Layer] = {}
    for layer in layers:
        for pk, score in layer.ranked:
            layer_of.setdefault(str(pk), layer)
            candidates.append(Candidate(pk, float(score), layer.source))
    pin_pks = [pk for _, pk in rules.pins]
    rows = _available(adapter, [c.pk for c in candidates], rule_pks=pin_pks)
    chosen = apply_rules(
        candidates, items=rows, filters=filters, rules=rules, category_of=_row_category, n=n
    )
    if len(chosen) < n:
        # Starved (a new store, or a list eaten by the rules): top up from the catalog.
        used = [*(c.pk for c in chosen), *_engine_blocked(filters)]
        extra = adapter.available_items().exclude(pk__in=_valid_pks(adapter.catalog_model(), used))
        if filters.category is not None and adapter.category_lookup():
            extra = extra.filter(**{adapter.category_lookup(): filters.category})
        more = _available_rows(adapter, extra, limit=_overfetch(n, filters))
        rows.update(more)
        catalog = _Layer(CATALOG, [(row.pk, 0.0) for row in more.values()])
        for key in more:
            layer_of.setdefault(key, catalog)
        candidates += [Candidate(row.pk, 0.0, CATALOG) for row in more.values()]
        chosen = apply_rules(
            candidates, items=rows, filters=filters, rules=rules, category_of=_row_category, n=n
        )
    explainer = _Explainer(adapter, model, reasons.strongest_sources(history.events))
    chosen_layers = [None if c.source == PINNED else layer_of[str(c.pk)] for c in chosen]
    named = explainer.named(chosen, chosen_layers)
    items = _instances(adapter, [c.pk for c in chosen] + [pk for pks in named for pk in pks])
    result = []
    for candidate, layer, names in zip(chosen, chosen_layers, named, strict=True):
        item = items.get(str(candidate.pk))
        if item is None:
            continue  # deleted since the first query
        result.append(
            Recommendation(
                item=item,
                score=candidate.score,
                reason=explainer.reason(item, layer, names, items),
                source=candidate.source,
                run_id=None if model is None else model.run_id,
            )
        )
    return result


# -- cached lists ---------------------------------------------------------------------
# A list is cached whole (keys, scores, reasons), keyed by everything it was computed
# from, so a repeat request does no engine work. Availability is checked again on every
# hit, in the same query that reads the instances to show.


def _list_name(
    block: str, model: ServingModel | None, rules: BlockRules, history: str, *parts: Any
) -> str:
    """The cache name of a list: its block, model run, rules, history digest and inputs."""
    rules_key = (sorted(rules.pins), sorted(rules.excluded))
    run_id = None if model is None else model.run_id
    # The setting too: a changed business rule (MAX_PER_CATEGORY ...) applies at once.
    configuration = _digest(getattr(settings, "RECOMMENDATIONS", None))
    return LIST_CACHE_PREFIX + _digest((block, run_id, rules_key, history, configuration, parts))


def _keys(pks: Iterable[Any]) -> list[str]:
    return sorted({str(pk) for pk in pks})


def _is_user(user: Any) -> bool:
    return user is not None and getattr(user, "is_authenticated", False)


def _list_store(user: Any, name: str, entry: tuple, *, timeout: float) -> None:
    if _is_user(user):
        _user_list_set(user.pk, name, entry, timeout=timeout)
    else:
        cache.set(f"recommendations:{name}", entry, timeout)


# The lists this process served lately, by (user key, list name), as (computed at,
# availability checked at, the list). Within RELOAD_INTERVAL of its last check a list is
# served from here without reading and unpickling the cached entry; everything else it
# depends on is in its name. Dropped with the user's cache (privacy.user_cache_delete).
_served: dict[tuple[Any, str], tuple[float, float, tuple[Recommendation, ...]]] = {}
SERVED_MAX = 4096


def served_forget(user_pk: Any = None) -> None:
    """Forget the lists this process served to one user, or to everyone.

    For one user the cached history is deleted from the shared cache too, by its fixed
    names: the index that lists a user's keys may have lost a name another process
    wrote at the same time, or been evicted, and then the lists would be served from
    the old history in every process until it expires.
    """
    if user_pk is None:
        _served.clear()
        return
    _history_forget(user_pk)
    for key in [key for key in list(_served) if key[0] == user_pk]:
        _served.pop(key, None)


def _served_key(user: Any, name: str) -> tuple[Any, str]:
    return (user.pk if _is_user(user) else None, name)


def _list_get(
    adapter: SettingsAdapter, user: Any, name: str, catalog_changed_at: float
) -> list[Recommendation] | None:
    """A cached list whose items are still available, or None.

    The availability of the listed items is checked again (one query) when the catalog
    changed since the last check (``services.catalog_changed``) or, as a safety net for
    changes made without telling, when the last check is older than ``RELOAD_INTERVAL``;
    the items themselves come from the cache (a changed label or price shows within
    ``CACHE_TIMEOUT`` seconds).
    """
    now = time.time()
    key = _served_key(user, name)
    served = _served.get(key)
    if served is not None:
        computed_at, checked_at, result = served
        fresh = now - checked_at < app_settings.RELOAD_INTERVAL and checked_at > catalog_changed_at
        if fresh and now < computed_at + app_settings.CACHE_TIMEOUT:
            return list(result)
    if _is_user(user):
        entry = user_cache_get(user.pk, name)
    else:
        entry = cache.get(f"recommendations:{name}")
    if not entry:
        _served.pop(key, None)
        return None
    computed_at, checked_at, rows = entry
    if now - checked_at >= app_settings.RELOAD_INTERVAL or checked_at <= catalog_changed_at:
        pks = [row[0].pk for row in rows]
        available = adapter.available_items().filter(pk__in=pks).values_list("pk", flat=True)
        remaining = computed_at + app_settings.CACHE_TIMEOUT - now
        if len(set(available)) < len(pks) or remaining <= 0:
            _served.pop(key, None)
            return None  # sold out or withdrawn since: compute the list afresh
        checked_at = now
        _list_store(user, name, (computed_at, checked_at, rows), timeout=remaining)
    result = _from_rows(rows)
    _served_remember(key, (computed_at, checked_at, result))
    return list(result)


def _from_rows(rows: Iterable[tuple]) -> tuple[Recommendation, ...]:
    """The recommendations of a cached list's rows."""
    return tuple(
        Recommendation(
            item=item, score=score, reason=reason, source=source, run_id=run_id, known=known
        )
        for item, score, reason, source, run_id, known in rows
    )


def _served_remember(
    key: tuple[Any, str], value: tuple[float, float, tuple[Recommendation, ...]]
) -> None:
    if len(_served) >= SERVED_MAX:
        _served.clear()  # cheaper than an LRU, and refilled by the next requests
    _served[key] = value


def _list_set(user: Any, name: str, result: list[Recommendation]) -> list[Recommendation]:
    """Cache a computed list (per user, or shared for anonymous shoppers) and return it."""
    rows = [
        (rec.item, rec.score, rec.reason, rec.source, rec.run_id, (rec.label, rec.url, rec.price))
        for rec in result
    ]
    if rows:
        history_signals_connect()  # so catalog saves reach the cached lists
        now = time.time()
        _list_store(user, name, (now, now, rows), timeout=app_settings.CACHE_TIMEOUT)
        served = _from_rows(rows)
        _served_remember(_served_key(user, name), (now, now, served))
        return list(served)
    return result


# -- public selectors -----------------------------------------------------------------


def check_n(n: Any) -> int:
    """``n`` as an int in 1..MAX_N, or a ValueError."""
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_N:
        raise ValueError(f"n must be an integer from 1 to {MAX_N}, got {n!r}.")
    return n


def _filters(
    history: _History, *, exclude: Iterable[Any], category: Any, rules: BlockRules
) -> Filters:
    filters = Filters(
        bought=history.bought(),
        category=None if category is None else str(category),
        # A category list is one category by definition: variety does not apply.
        max_per_category=None if category is not None else app_settings.MAX_PER_CATEGORY,
    )
    filters.block(exclude)
    filters.block(rules.excluded)
    return filters


def _session_allowed(adapter: SettingsAdapter, user: Any, history: _History) -> bool:
    """Whether this session's views may personalise: anonymous or consenting shoppers.

    A signed-in shopper who turned personalisation off gets non-personal lists; the
    consent query runs only when a history is empty (a history implies consent).
    """
    if user is None or not getattr(user, "is_authenticated", False):
        return True
    return bool(history) or adapter.user_consents(user)


def _user_features(adapter: SettingsAdapter, user: Any) -> Any:
    if not app_settings.USER_FEATURES or not getattr(user, "is_authenticated", False):
        return None
    # A profile rarely changes: one query per CACHE_TIMEOUT, not one per page.
    features = user_cache_get(user.pk, FEATURES_CACHE_NAME)
    if features is None:
        features = adapter.user_features([user.pk])
        user_cache_set(user.pk, FEATURES_CACHE_NAME, features)
    return features


def recommendations_for_user(
    *,
    user: Any,
    n: int = DEFAULT_N,
    exclude: Iterable[Any] = (),
    category: Any = None,
    session_item_pks: Sequence[Any] = (),
    history: _History | None = None,
) -> list[Recommendation]:
    """A shopper's personal list: own history, then this session's views, then trending.

    ``history`` is the shopper's :func:`shopper_history`, when the caller read it already.
    """
    n = check_n(n)
    adapter, model = get_adapter(), model_for_user(user)
    history, rules, catalog_changed_at = _list_inputs(adapter, user, history, "for_you")
    if session_item_pks and not _session_allowed(adapter, user, history):
        session_item_pks = ()
    name = _list_name(
        "for_you",
        model,
        rules,
        history.fingerprint,
        n,
        _keys(exclude),
        None if category is None else str(category),
        _keys(session_item_pks),
    )
    cached = _list_get(adapter, user, name, catalog_changed_at)
    if cached is not None:
        return cached
    filters = _filters(history, exclude=exclude, category=category, rules=rules)
    k = _overfetch(n, filters)
    category_pks = _category_pks(adapter, filters.category)
    layers: list[_Layer] = []
    if model is not None:
        personal = [
            (PERSONAL, _row(model, history.weights()), _user_features(adapter, user)),
            (SESSION, _row(model, dict.fromkeys(session_item_pks, 1.0)), None),
        ]
        for source, row, features in personal:
            if row is None:
                continue
            ranked = _ranked(
                model,
                model.recommender,
                k=k,
                row=row,
                blocked=_engine_blocked(filters),
                allowed=category_pks,
                user_features=features,
            )
            layers.append(_Layer(source, ranked, recommender=model.recommender, row=row))
    layers += _fallback_layers(model, k=k, filters=filters, category_pks=category_pks)
    return _list_set(
        user,
        name,
        _assemble(
            adapter=adapter,
            model=model,
            layers=layers,
            rules=rules,
            filters=filters,
            n=n,
            history=history,
        ),
    )


def recommendations_for_session(
    *, item_pks: Sequence[Any], n: int = DEFAULT_N, exclude: Iterable[Any] = ()
) -> list[Recommendation]:
    """An anonymous shopper's list from the items viewed in this session."""
    return recommendations_for_user(user=None, n=n, exclude=exclude, session_item_pks=item_pks)


def similar_products(
    *,
    item: Any,
    n: int = DEFAULT_N,
    user: Any = None,
    exclude: Iterable[Any] = (),
    history: _History | None = None,
) -> list[Recommendation]:
    """Items bought by the customers who bought ``item`` (never ``item`` itself)."""
    return _item_to_item(
        block="similar",
        source=SIMILAR,
        anchors=[item.pk],
        n=n,
        user=user,
        exclude=exclude,
        history=history,
    )


def bought_together(
    *,
    item: Any = None,
    cart_item_pks: Sequence[Any] | None = None,
    n: int = DEFAULT_N,
    user: Any = None,
    exclude: Iterable[Any] = (),
    history: _History | None = None,
) -> list[Recommendation]:
    """Items bought with ``item``, or with the items of a cart when no item is given."""
    anchors = [item.pk] if item is not None else list(dict.fromkeys(cart_item_pks or ()))
    return _item_to_item(
        block="bought_together",
        source=BOUGHT_TOGETHER,
        anchors=anchors,
        n=n,
        user=user,
        exclude=exclude,
        history=history,
    )


def _item_to_item(
    *,
    block: str,
    source: str,
    anchors: list[Any],
    n: int,
    user: Any,
    exclude: Iterable[Any],
    history: _History | None,
) -> list[Recommendation]:
    n = check_n(n)
    adapter, model = get_adapter(), model_for_user(user)
    history, rules, catalog_changed_at = _list_inputs(adapter, user, history, block)
    name = _list_name(
        block,
        model,
        rules,
        history.bought_fingerprint,
        n,
        _keys(exclude),
        [str(pk) for pk in anchors],
    )
    cached = _list_get(adapter, user, name, catalog_changed_at)
    if cached is not None:
        return cached
    filters = _filters(history, exclude=[*exclude, *anchors], category=None, rules=rules)
    k = _overfetch(n, filters)
    layers: list[_Layer] = []
    if model is not None and len(anchors) == 1:
        ranked = _similar(model, anchors[0], k=k, blocked=_engine_blocked(filters))
        layers.append(_Layer(source, ranked, anchor_pks=anchors))
    elif model is not None and anchors:
        row = _row(model, dict.fromkeys(anchors, 1.0))
        if row is not None:
            ranked = _ranked(model, model.similar, k=k, row=row, blocked=_engine_blocked(filters))
            layers.append(
                _Layer(source, ranked, recommender=model.similar, row=row, anchor_pks=anchors)
            )
    layers += _fallback_layers(model, k=k, filters=filters, category_pks=None)
    return _list_set(
        user,
        name,
        _assemble(
            adapter=adapter,
            model=model,
            layers=layers,
            rules=rules,
            filters=filters,
            n=n,
            history=history,
        ),
    )


def trending_products(
    *,
    n: int = DEFAULT_N,
    category: Any = None,
    user: Any = None,
    exclude: Iterable[Any] = (),
    history: _History | None = None,
) -> list[Recommendation]:
    """What is selling now, optionally in one category (a category key)."""
    return _non_personal(
        "trending", n=n, category=category, user=user, exclude=exclude, history=history
    )


def popular_products(
    *,
    n: int = DEFAULT_N,
    user: Any = None,
    exclude: Iterable[Any] = (),
    history: _History | None = None,
) -> list[Recommendation]:
    """The best sellers of the serving version: promoting or rolling back changes them."""
    return _non_personal(
        "popular", n=n, category=None, user=user, exclude=exclude, history=history
    )


def _non_personal(
    block: str,
    *,
    n: int,
    category: Any,
    user: Any,
    exclude: Iterable[Any],
    history: _History | None,
) -> list[Recommendation]:
    """A list the same for every shopper (trending, or popular only), cached per version."""
    n = check_n(n)
    adapter, model = get_adapter(), model_for_user(user)
    history, rules, catalog_changed_at = _list_inputs(adapter, user, history, block)
    name = _list_name(
        block,
        model,
        rules,
        history.bought_fingerprint,
        n,
        _keys(exclude),
        None if category is None else str(category),
    )
    cached = _list_get(adapter, user, name, catalog_changed_at)
    if cached is not None:
        return cached
    filters = _filters(history, exclude=exclude, category=category, rules=rules)
    k = _overfetch(n, filters)
    layers = _fallback_layers(
        model, k=k, filters=filters, category_pks=_category_pks(adapter, filters.category)
    )
    if block == POPULAR:
        layers = [layer for layer in layers if layer.source == POPULAR]
    return _list_set(
        user,
        name,
        _assemble(
            adapter=adapter,
            model=model,
            layers=layers,
            rules=rules,
            filters=filters,
            n=n,
            history=history,
        ),
    )


def recently_viewed(
    *,
    user: Any = None,
    session_item_pks: Sequence[Any] | None = None,
    n: int = DEFAULT_N,
    exclude: Iterable[Any] = (),
    history: _History | None = None,
) -> list[Recommendation]:
    """The shopper's own recently viewed items, newest first, then trending to fill."""
    n = check_n(n)
    adapter, model = get_adapter(), model_for_user(user)
    history, rules, catalog_changed_at = _list_inputs(adapter, user, history, "recently_viewed")
    filters = _filters(history, exclude=exclude, category=None, rules=rules)
    if session_item_pks and not _session_allowed(adapter, user, history):
        session_item_pks = None
    viewed = list(dict.fromkeys([*(session_item_pks or ()), *history.viewed()]))
    name = _list_name(
        "recently_viewed",
        model,
        rules,
        history.bought_fingerprint,
        n,
        _keys(exclude),
        [str(pk) for pk in viewed],
    )
    cached = _list_get(adapter, user, name, catalog_changed_at)
    if cached is not None:
        return cached
    layers = [_Layer(RECENTLY_VIEWED, [(pk, 1.0 / (i + 1)) for i, pk in enumerate(viewed)])]
    layers += _fallback_layers(model, k=_overfetch(n, filters), filters=filters, category_pks=None)
    return _list_set(
        user,
        name,
        _assemble(
            adapter=adapter,
            model=model,
            layers=layers,
            rules=rules,
            filters=filters,
            n=n,
            history=history,
        ),
    )
