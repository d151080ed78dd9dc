"""Candidates and rules: ranked layers of candidates, then the business rules across them.

Each layer of a block (personal, session, the anchors' item-to-item list, trending,
popular, recently viewed) is built by its function in :data:`LAYER_BUILDERS` from the
same :class:`Inputs`; :func:`candidates_choose` applies the rules of
:mod:`recommendations.rules` across the layers in order, topping up from the catalog
when they run dry, so no list is empty while the catalog has an available item.
"""

from __future__ import annotations

import logging
import math
from collections import ChainMap
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.apps import apps
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.utils.translation import gettext as _

from recommendations.adapters import SettingsAdapter
from recommendations.conf import PURCHASE, app_settings
from recommendations.engine.base import Recommender
from recommendations.rules import BlockRules, Candidate, Filters, apply_rules
from recommendations.serving.catalog import (
    Catalog,
    CatalogRow,
    available_rows,
    row_category,
    valid_pks,
)
from recommendations.serving.history import SAME_TIME, History
from recommendations.serving.loading import ServingModel
from recommendations.serving.social import NOBODY, Circle, followed_ranked, social_row
from recommendations.serving.state import MAX_GLOBAL_ORDERS, process_state

logger = logging.getLogger(__name__)

# Candidates asked from each layer: enough to survive the rules without a second pass.
OVERFETCH_FACTOR = 3
OVERFETCH_EXTRA = 10

PERSONAL = "personal"
SESSION = "session"
SIMILAR = "similar"
BOUGHT_TOGETHER = "bought_together"
TRENDING = "trending"
POPULAR = "popular"
PINNED = "pinned"
RECENTLY_VIEWED = "recently_viewed"
CATALOG = "catalog"
FOLLOWED = "followed"


@dataclass(frozen=True)
class TrainedNames:
    """The history items that explain the items of a list computed at training time.

    Read for the few items a list shows, not for every candidate the layer ranked.
    """

    model: ServingModel
    # (stored items, NAMED) history columns of the stored list, best first, -1 padded.
    named: np.ndarray = field(repr=False)
    # Each ranked item's position in the stored list, by string key.
    positions: dict[str, int]

    def of(self, keys: Iterable[str], n: int) -> list[list[Any]]:
        """Keys of the (at most ``n``) history items explaining each of ``keys``, best
        first; none for an item not in the stored list. One pass for the whole list."""
        item_pks, named, positions = self.model.item_pks, self.named, self.positions
        result: list[list[Any]] = []
        for key in keys:
            position = positions.get(key)
            if position is None:
                result.append([])
            else:
                cols = named[position]
                result.append(item_pks[cols[cols >= 0][:n]].tolist())
        return result


@dataclass
class Layer:
    """Ranked candidates of one source, and what explains them."""

    source: str
    ranked: list[tuple[Any, float]]
    # Personal and session layers: the recommender and history row behind ``explain``.
    recommender: Recommender | None = None
    row: sp.csr_matrix | None = None
    anchor_pks: list[Any] = field(default_factory=list)
    # A list computed at training time: the history items explaining each item, by key.
    explained: TrainedNames | None = None


@dataclass
class Inputs:
    """What every layer of one list is built from."""

    adapter: SettingsAdapter
    model: ServingModel | None
    history: History
    filters: Filters
    k: int
    category_pks: list[Any] | None
    anchors: list[Any]
    session_item_pks: Sequence[Any]
    viewed: list[Any]
    user_features: Callable[[], Any]
    # ServingModel attributes tried in order for an item-to-item layer.
    item_to_item: tuple[str, ...]
    # The items no layer need rank (engine_blocked), worked out once per list.
    blocked: set[str] = field(default_factory=set)
    # The people the shopper follows (nobody for anonymous shoppers or without SOCIAL).
    circle: Circle = NOBODY


def overfetch(n: int, filters: Filters) -> int:
    """Candidates to ask each layer for, so that ``n`` survive the rules."""
    # Items the engine skips (``engine_blocked``) cost nothing; the rest may be dropped.
    bought = len(filters.bought) if app_settings.REPEAT_PURCHASE_CATEGORIES else 0
    return OVERFETCH_FACTOR * n + OVERFETCH_EXTRA + len(filters.blocked) + bought


def engine_blocked(filters: Filters) -> set[str]:
    """Items the engine need not rank: blocked ones, and bought ones unless a category repeats."""
    if app_settings.REPEAT_PURCHASE_CATEGORIES:
        return filters.blocked
    return filters.blocked | filters.bought


def _row(model: ServingModel, weights: dict[Any, float]) -> sp.csr_matrix | None:
    """The 1 x n_items interaction row of a history, or None when nothing is known."""
    cols, data = [], []
    for col, weight in zip(model.item_cols(weights), weights.values(), strict=True):
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
    return [col for col in model.item_cols(pks) if col is not None]


def _positive(
    model: ServingModel, cols: np.ndarray, scores: np.ndarray
) -> list[tuple[Any, float]]:
    """(item key, score) pairs, dropping zero scores: no signal is not a recommendation."""
    keep = scores > 0
    return list(zip(model.item_pks_of(cols[keep]), scores[keep].tolist(), strict=True))


def _ranked(
    model: ServingModel,
    recommender: Recommender,
    *,
    k: int,
    row: sp.csr_matrix | None = None,
    blocked: Iterable[Any] = (),
    allowed: Iterable[Any] | None = None,
    user_features: Any = None,
    social: sp.csr_matrix | None = None,
) -> list[tuple[Any, float]]:
    """Top ``k`` (item key, score) of a recommender; an engine error yields nothing.

    ``social`` is the shopper's follows now, for a social recommender's fold-in.
    """
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
            **({} if social is None else {"social_row": social}),
        )
    except (ValueError, IndexError) as exc:
        # A list falls back to the next layer rather than failing the page.
        logger.warning("%s could not rank (run %s): %s", recommender, model.run_id, exc)
        return []
    return _positive(model, cols, scores)


def _global_ranked(
    model: ServingModel,
    recommender: Recommender,
    *,
    k: int,
    blocked: set[str],
    allowed: Iterable[Any] | None = None,
) -> list[tuple[Any, float]]:
    """Top ``k`` (item key, score) of a recommender that ranks everyone the same.

    Trending and popularity rank every shopper alike: a model's whole order is computed
    once per process (kept in the serving state) and walked per request, skipping what
    the shopper may not see.
    """
    orders = process_state.global_orders
    entry = orders.get(id(recommender))
    if entry is None or entry[0] is not recommender:
        ranked = _ranked(model, recommender, k=int(model.item_pks.size))
        with process_state.lock:
            while len(orders) >= MAX_GLOBAL_ORDERS:
                del orders[next(iter(orders))]
            # Holding the recommender keeps its id from being reused by another one.
            entry = (recommender, [(pk, str(pk), score) for pk, score in ranked])
            orders[id(recommender)] = entry
    allowed_keys = None if allowed is None else {str(pk) for pk in allowed}
    result = []
    for pk, key, score in entry[1]:
        if key in blocked or (allowed_keys is not None and key not in allowed_keys):
            continue
        result.append((pk, score))
        if len(result) >= k:
            break
    return result


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


# -- the layers -------------------------------------------------------------------------


def _personal_layer(source: str, inputs: Inputs, weights: dict[Any, float]) -> Layer | None:
    model = inputs.model
    if model is None:
        return None
    row = _row(model, weights)
    # A social model ranks a shopper with follows but no history of their own too.
    circle = inputs.circle
    social = social_row(model, circle) if source == PERSONAL and circle.followed else None
    if row is None and social is None:
        return None
    features = inputs.user_features() if source == PERSONAL else None
    ranked = _ranked(
        model,
        model.recommender,
        k=inputs.k,
        row=row,
        blocked=inputs.blocked,
        allowed=inputs.category_pks,
        user_features=features,
        social=social,
    )
    return Layer(source, ranked, recommender=model.recommender, row=row)


def _trained_layer(source: str, inputs: Inputs) -> Layer | None:
    """The shopper's list computed at training time, when their history is the one trained on.

    None (score it now) for shoppers unknown to the model, with an event newer (or an
    event fewer) than the training saw, in a category list, or when the stored list is
    too short for this request once its blocked items are left out.
    """
    model, history = inputs.model, inputs.history
    lists = None if model is None else model.user_lists
    if lists is None or history.user_cache is None or inputs.category_pks is not None:
        return None
    trained = history.trained
    if trained is not None and trained.run_id == model.run_id:
        row: int | None = trained.row  # looked up with the history
    else:
        row = model.user_row(history.user_cache.user_pk)
    newest = None if row is None else history.newest_time()
    # NaN (no list for this user) never matches.
    if newest is None or not abs(newest - float(lists.newest[row])) <= SAME_TIME:
        return None
    cols = lists.items[row]
    stored = cols >= 0
    pks = model.item_pks[cols[stored]].tolist()
    blocked = inputs.blocked
    ranked, positions = [], {}
    for position, (pk, score) in enumerate(zip(pks, lists.scores[row].tolist(), strict=False)):
        key = str(pk)
        if key in blocked:
            continue
        ranked.append((pk, score))
        positions[key] = position
        if len(ranked) >= inputs.k:
            break
    if len(ranked) < inputs.k and stored.all():
        return None  # a full stored list ran out: there may be more to rank
    names = TrainedNames(model, lists.named[row][stored], positions)
    return Layer(source, ranked, explained=names)


def history_layer(source: str, inputs: Inputs) -> Layer | None:
    """The shopper's own history ranked by the personal recommender.

    A known shopper whose history is the one the model was trained on gets the list
    computed at training time; the others (new events since) are scored now.
    """
    trained = _trained_layer(source, inputs)
    if trained is not None:
        return trained
    return _personal_layer(source, inputs, inputs.history.weights())


def session_layer(source: str, inputs: Inputs) -> Layer | None:
    """This session's views ranked by the personal recommender."""
    if not inputs.session_item_pks:
        return None
    return _personal_layer(source, inputs, dict.fromkeys(inputs.session_item_pks, 1.0))


def item_to_item_layer(source: str, inputs: Inputs) -> Layer | None:
    """Items related to the anchors by the first of ``inputs.item_to_item`` the model has."""
    model, anchors = inputs.model, inputs.anchors
    if model is None or not anchors:
        return None
    recommender = next(
        (
            found
            for name in inputs.item_to_item
            if (found := getattr(model, name, None)) is not None
        ),
        None,
    )
    if recommender is None:
        return None
    blocked = inputs.blocked
    if len(anchors) == 1:
        col = model.item_col(anchors[0])
        if col is None:
            return Layer(source, [], anchor_pks=anchors)
        try:
            cols, scores = recommender.similar_items(col, inputs.k, blocked=_cols(model, blocked))
        except (ValueError, IndexError) as exc:
            logger.warning("No similar items for %s (run %s): %s", anchors[0], model.run_id, exc)
            return Layer(source, [], anchor_pks=anchors)
        return Layer(source, _positive(model, cols, scores), anchor_pks=anchors)
    row = _row(model, dict.fromkeys(anchors, 1.0))
    if row is None:
        return None
    ranked = _ranked(model, recommender, k=inputs.k, row=row, blocked=blocked)
    return Layer(source, ranked, recommender=recommender, row=row, anchor_pks=anchors)


def trending_layer(source: str, inputs: Inputs) -> Layer | None:
    """What sells now (nothing before a first training: popularity from the database)."""
    model = inputs.model
    if model is None:
        return None
    blocked = inputs.blocked
    ranked = _global_ranked(
        model, model.trending, k=inputs.k, blocked=blocked, allowed=inputs.category_pks
    )
    return Layer(source, ranked)


def popular_layer(source: str, inputs: Inputs) -> Layer | None:
    """The best sellers of the serving version, or of the database before any training."""
    model = inputs.model
    if model is None:
        return Layer(source, _popular_from_db(inputs.k))
    blocked = inputs.blocked
    ranked = _global_ranked(
        model, model.popularity, k=inputs.k, blocked=blocked, allowed=inputs.category_pks
    )
    return Layer(source, ranked)


def recently_viewed_layer(source: str, inputs: Inputs) -> Layer | None:
    """The shopper's viewed items, newest first."""
    return Layer(source, [(pk, 1.0 / (i + 1)) for i, pk in enumerate(inputs.viewed)])


def followed_layer(source: str, inputs: Inputs) -> Layer | None:
    """What the people the shopper follows bought or rated well, most of them first;
    only items a social reason may tell of (see :mod:`.social`)."""
    if not inputs.circle:
        return None
    allowed = None if inputs.category_pks is None else {str(pk) for pk in inputs.category_pks}
    ranked = followed_ranked(inputs.adapter, inputs.circle, blocked=inputs.blocked, k=inputs.k)
    return Layer(source, [pair for pair in ranked if allowed is None or str(pair[0]) in allowed])


LAYER_BUILDERS: dict[str, Callable[[str, Inputs], Layer | None]] = {
    PERSONAL: history_layer,
    SESSION: session_layer,
    SIMILAR: item_to_item_layer,
    BOUGHT_TOGETHER: item_to_item_layer,
    TRENDING: trending_layer,
    POPULAR: popular_layer,
    RECENTLY_VIEWED: recently_viewed_layer,
    FOLLOWED: followed_layer,
}


def layers_build(sources: Iterable[str], inputs: Inputs) -> Iterator[Layer]:
    """The layers of ``sources`` in order, each built when asked for; those with nothing
    to rank left out."""
    for source in sources:
        layer = LAYER_BUILDERS[source](source, inputs)
        if layer is not None:
            yield layer


# -- availability and the rules ---------------------------------------------------------


def category_pks(adapter: SettingsAdapter, category: str | None) -> list[Any] | None:
    """Keys of the available items of a category (None: no category filter)."""
    if category is None:
        return None
    lookup = adapter.category_lookup()
    if not lookup:
        return None
    try:
        return list(
            adapter.available_items().filter(**{lookup: category}).values_list("pk", flat=True)
        )
    except (ValueError, TypeError, OverflowError, ValidationError):
        raise ValueError(
            _("%(category)r is not a valid category key.") % {"category": category}
        ) from None


def candidates_choose(
    adapter: SettingsAdapter,
    layers: Iterable[Layer],
    *,
    catalog: Catalog,
    rules: BlockRules,
    filters: Filters,
    n: int,
    blocked: set[str],
    k: int,
    top_up: bool = True,
) -> list[tuple[Candidate, Layer | None]]:
    """Apply the rules across the layers in order: the chosen candidates and their layers.

    ``layers`` may be lazy: a layer is built only when the ones before it leave the list
    short (the rules take candidates in order, so later ones cannot change the choice).
    The available candidates come from the process's catalog (no query); one query when
    the layers run dry and ``top_up`` lets the catalog fill the list; a pinned item has
    no layer. ``blocked`` and ``k``: the list's :func:`engine_blocked` and
    :func:`overfetch` (the top-up leaves those out and fetches as many).
    """
    candidates: list[Candidate] = []
    layer_of: dict[str, Layer] = {}
    # Every available item, by key: the rules skip a candidate missing from it.
    rows: Mapping[str, CatalogRow] = catalog.rows
    chosen: list[Candidate] = []
    if rules.pins:  # pinned items show even when every layer is empty
        chosen = apply_rules(
            candidates, items=rows, filters=filters, rules=rules, category_of=row_category, n=n
        )
    for layer in layers:
        for pk, score in layer.ranked:
            layer_of.setdefault(str(pk), layer)
            candidates.append(Candidate(pk, float(score), layer.source))
        chosen = apply_rules(
            candidates, items=rows, filters=filters, rules=rules, category_of=row_category, n=n
        )
        if len(chosen) >= n:
            break
    if top_up and len(chosen) < n:
        # Starved (a new store, or a list eaten by the rules): top up from the catalog.
        used = [*map(attrgetter("pk"), chosen), *blocked]
        extra = adapter.available_items().exclude(pk__in=valid_pks(adapter.shape.model, used))
        if filters.category is not None and adapter.category_lookup():
            extra = extra.filter(**{adapter.category_lookup(): filters.category})
        more = available_rows(adapter, extra, limit=k)
        # Items available since the process's catalog was read are in ``more`` only.
        rows = ChainMap(more, rows)  # not a copy of the whole catalog
        catalog_layer = Layer(CATALOG, [])
        for key, row in more.items():
            catalog_layer.ranked.append((row.pk, 0.0))
            layer_of.setdefault(key, catalog_layer)
            candidates.append(Candidate(row.pk, 0.0, CATALOG))
        chosen = apply_rules(
            candidates, items=rows, filters=filters, rules=rules, category_of=row_category, n=n
        )
    return [(c, None if c.source == PINNED else layer_of[str(c.pk)]) for c in chosen]
