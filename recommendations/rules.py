"""Business rules applied to every list at serve time, whatever ranked the items.

Never an unavailable item, never an item in the cart, never an item already bought
(unless its category is in ``REPEAT_PURCHASE_CATEGORIES``), an optional category
filter, at most ``MAX_PER_CATEGORY`` items of one category, and the merchandisers'
:class:`~recommendations.models.ItemRule` pins and excludes. A block's spec
(:class:`~recommendations.serving.pipeline.BlockSpec`) says which apply to it: similar
products have no category cap, recently viewed lists bought items and takes no pins.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from operator import attrgetter, itemgetter
from typing import Any

from django.core.cache import cache

from recommendations.conf import app_settings
from recommendations.models import ItemRule

# Every block of every page reads the rules: they are cached for RELOAD_INTERVAL
# seconds and dropped whenever staff save or delete one.
RULES_CACHE_KEY = "recommendations:item-rules"


@dataclass(frozen=True)
class BlockRules:
    """The active pins and excludes of one block, item keys as strings."""

    pins: tuple[tuple[int, str], ...] = ()
    excluded: frozenset[str] = frozenset()


def _active_rules(rows: list[tuple[str, str, str, int]] | None) -> list[tuple[str, str, str, int]]:
    """(block, kind, item key, position) of every active rule, by position.

    ``rows`` is the cached value when the caller read it already (None: not cached).
    """
    if rows is None:
        rows = cache.get(RULES_CACHE_KEY)
    if rows is None:
        rows = list(
            ItemRule.objects.filter(active=True)
            .order_by("position", "pk")
            .values_list("block", "kind", "item_pk", "position")
        )
        cache.set(RULES_CACHE_KEY, rows, app_settings.RELOAD_INTERVAL)
    return rows


def rules_cache_clear(**kwargs: Any) -> None:
    """Forget the cached rules (connected to ItemRule's save and delete)."""
    cache.delete(RULES_CACHE_KEY)


def block_rules(*, block: str, rows: list[tuple[str, str, str, int]] | None = None) -> BlockRules:
    """The active rules of ``block`` and of all blocks (one query per RELOAD_INTERVAL).

    ``rows`` is the cache's value of :data:`RULES_CACHE_KEY` when the caller read it.
    """
    pins: list[tuple[int, str]] = []
    excluded: set[str] = set()
    for rule_block, kind, item_pk, position in _active_rules(rows):
        if rule_block not in ("", block):
            continue
        if kind == ItemRule.Kind.EXCLUDE:
            excluded.add(item_pk)
        else:
            pins.append((position, item_pk))
    # An item both pinned and excluded stays out: excluding is the safer reading.
    return BlockRules(
        pins=tuple(pin for pin in pins if pin[1] not in excluded), excluded=frozenset(excluded)
    )


@dataclass(frozen=True)
class Candidate:
    """An item proposed for a list, before the rules pick the final ones."""

    pk: Any
    score: float
    source: str


@dataclass
class Filters:
    """What a list must leave out; keys are compared as strings."""

    blocked: set[str] = field(default_factory=set)  # cart, excludes, the product on screen
    bought: set[str] = field(default_factory=set)
    category: str | None = None
    max_per_category: int | None = None

    def block(self, pks: Iterable[Any]) -> None:
        """Never show these items."""
        self.blocked.update(map(str, pks))


def _admitted(
    keys: Iterable[str],
    *,
    items: Mapping[str, Any],
    filters: Filters,
    rules: BlockRules,
    category_of: Callable[[Any], str | None],
) -> set[str]:
    """The ``keys`` a list may show: available, neither blocked nor excluded, of the
    category asked for, and not bought unless their category repeats. One loop for a
    whole list, not a call per candidate."""
    repeatable = app_settings.REPEAT_PURCHASE_CATEGORIES
    blocked, excluded, bought = filters.blocked, rules.excluded, filters.bought
    wanted = filters.category
    admitted = set()
    for pk in keys:
        item = items.get(pk)
        if item is None or pk in blocked or pk in excluded:
            continue
        category = category_of(item)
        if wanted is not None and category != wanted:
            continue
        if pk not in bought or category in repeatable:
            admitted.add(pk)
    return admitted


def apply_rules(
    candidates: Iterable[Candidate],
    *,
    items: Mapping[str, Any],
    filters: Filters,
    rules: BlockRules,
    category_of: Callable[[Any], str | None],
    n: int,
) -> list[Candidate]:
    """The first ``n`` candidates the rules allow, with pins inserted at their positions.

    ``items`` holds the available items by string key: a candidate missing from it is
    unavailable (or unknown) and is skipped.
    """
    candidates = list(candidates)
    keys = list(map(str, map(attrgetter("pk"), candidates)))
    admitted = _admitted(
        [*keys, *map(itemgetter(1), rules.pins)],
        items=items,
        filters=filters,
        rules=rules,
        category_of=category_of,
    )
    pins = (
        [(position, pk) for position, pk in rules.pins if pk in admitted][:n] if rules.pins else []
    )
    seen: set[str] = set(map(itemgetter(1), pins))
    chosen: list[Candidate] = []
    per_category: Counter[str | None] = Counter()
    limit = filters.max_per_category
    for candidate, pk in zip(candidates, keys, strict=True):
        if len(chosen) + len(pins) >= n:
            break
        if pk in seen or pk not in admitted:
            continue
        category = category_of(items[pk])
        if limit is not None and category is not None and per_category[category] >= limit:
            continue
        seen.add(pk)
        per_category[category] += 1
        chosen.append(candidate)
    for position, pk in pins:
        chosen.insert(min(position, len(chosen)), Candidate(items[pk].pk, 0.0, "pinned"))
    return chosen
