"""Business rules applied to every list at serve time, whatever ranked the items.

Never an unavailable item, never an item in the cart, never an item already bought
(unless its category is in ``REPEAT_PURCHASE_CATEGORIES``), an optional category
filter, at most ``MAX_PER_CATEGORY`` items of one category, and the merchandisers'
:class:`~recommendations.models.ItemRule` pins and excludes. A block's spec
(:class:`~recommendations.serving.pipeline.BlockSpec`) says which apply to it: similar
products have no category cap, recently viewed lists bought items and takes no pins.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from operator import attrgetter, itemgetter
from typing import Any

from django.core.cache import cache
from django.db import transaction

from recommendations.conf import app_settings
from recommendations.models import ItemRule
from recommendations.serving.near_cache import near_cache, near_forget
from recommendations.serving.state import process_state

# The version of the rules in force, a new token whenever staff save or delete one: every
# list reads this short token, and each process reads the rules themselves once per
# version. It expires after RELOAD_INTERVAL seconds, and a process reads the rules of a
# version again after as long, so rules changed without telling (a queryset update) are
# read again within that time, even while the process keeps the token (the near cache).
RULES_VERSION_KEY = "recommendations:item-rules-version"

RuleRow = tuple[str, str, str, int]  # block, kind, item key, position


@dataclass(frozen=True)
class BlockRules:
    """The active pins and excludes of one block, item keys as strings."""

    pins: tuple[tuple[int, str], ...] = ()
    excluded: frozenset[str] = frozenset()

    @cached_property
    def key(self) -> tuple[tuple[tuple[int, str], ...], tuple[str, ...]]:
        """The rules in a stable order: they name the lists computed under them."""
        return tuple(sorted(self.pins)), tuple(sorted(self.excluded))


@dataclass(frozen=True)
class RuleSet:
    """Every active rule of one version, by position; each block's rules worked out once."""

    version: str | None
    rows: tuple[RuleRow, ...] = ()
    # When this process read them (epoch seconds).
    read_at: float = field(default=0.0, compare=False)
    _blocks: dict[tuple[str, bool], BlockRules] = field(
        default_factory=dict, repr=False, compare=False
    )

    def of(self, block: str, *, pinned: bool = True) -> BlockRules:
        """The rules of ``block`` and of all blocks; ``pinned`` False: its excludes only."""
        held = self._blocks.get((block, pinned))
        if held is None:
            held = self._blocks[(block, pinned)] = _block_rules(self.rows, block, pinned)
        return held


def _block_rules(rows: Iterable[RuleRow], block: str, pinned: bool) -> BlockRules:
    pins: list[tuple[int, str]] = []
    excluded: set[str] = set()
    for rule_block, kind, item_pk, position in rows:
        if rule_block not in ("", block):
            continue
        if kind == ItemRule.Kind.EXCLUDE:
            excluded.add(item_pk)
        elif pinned:
            pins.append((position, item_pk))
    # An item both pinned and excluded stays out: excluding is the safer reading.
    return BlockRules(
        pins=tuple(pin for pin in pins if pin[1] not in excluded), excluded=frozenset(excluded)
    )


def rules_current(version: str | None) -> RuleSet:
    """The active rules of ``version``, the token the cache holds (None: it holds none).

    This process reads them from the database once per version. Without a token it
    reads them and offers one; if another process or a change wrote a token meanwhile,
    the rules read serve this request only and the next one reads that token's. Rules
    read ``RELOAD_INTERVAL`` seconds ago are read again, whatever the token.
    """
    now = time.time()
    held = process_state.rules
    if (
        version is not None
        and held is not None
        and held.version == version
        and now - held.read_at < app_settings.RELOAD_INTERVAL
    ):
        return held
    rows = tuple(
        ItemRule.objects.filter(active=True)
        .order_by("position", "pk")
        .values_list("block", "kind", "item_pk", "position")
    )
    if version is None:
        token = uuid.uuid4().hex
        offered = cache.add(RULES_VERSION_KEY, token, app_settings.RELOAD_INTERVAL)
        if near_cache.values:  # no call on the read path when nothing is kept
            near_cache.forget([RULES_VERSION_KEY])
        version = token if offered else None
    rules = RuleSet(version, rows, read_at=now)
    if version is not None:
        process_state.rules = rules
    return rules


def rules_changed(*, using: str | None = None, **kwargs: Any) -> None:
    """A new version of the rules (ItemRule's save and delete): every process reads them
    again before its next list.

    Now, and again once the change is committed on its database (``using``): a process
    that read the rules in between, before the commit, holds them under the first
    token only. The saved rule stays saved if the cache fails after the commit.
    """
    _version_new()
    transaction.on_commit(_version_new, using=using, robust=True)


def _version_new() -> None:
    cache.set(RULES_VERSION_KEY, uuid.uuid4().hex, app_settings.RELOAD_INTERVAL)
    near_forget(RULES_VERSION_KEY)


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
