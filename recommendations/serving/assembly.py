"""Assembly: the chosen candidates become recommendations with instances and reasons.

A reason only ever names the shopper's own data (their history, this session's views)
or the item on screen: how each layer's items are explained is its reason policy
(:data:`DEFAULT_REASONS`, which a block's spec may replace).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from itertools import chain
from types import MappingProxyType
from typing import Any

from recommendations import reasons
from recommendations.adapters import SettingsAdapter, get_adapter
from recommendations.conf import VIEW, app_settings
from recommendations.rules import Candidate
from recommendations.serving.candidates import (
    BOUGHT_TOGETHER,
    CATALOG,
    FOLLOWED,
    PERSONAL,
    RECENTLY_VIEWED,
    SESSION,
    SIMILAR,
    TRENDING,
    Layer,
)
from recommendations.serving.catalog import Catalog
from recommendations.serving.history import History
from recommendations.serving.loading import ServingModel
from recommendations.serving.social import NOBODY, Circle, evidence_collect, social_reason

# The source a reason names for an item viewed in this session but not in the history.
VIEW_SOURCE = "view"

# Reason policies: how the items of a layer are explained.
BECAUSE_YOU = "because_you"  # "Because you viewed X": up to 3 history items explain it
SIMILAR_TO = "similar_to"  # "Similar to X": the anchor (or cart item) it resembles
BOUGHT_WITH = "bought_with"  # "Often bought with X": the anchor (or cart item) it completes
TRENDING_IN = "trending_in"  # "Trending in <category>"
FIXED = "fixed"  # one sentence per source (recently viewed, catalog, popular)

DEFAULT_REASONS: Mapping[str, str] = MappingProxyType(
    {
        PERSONAL: BECAUSE_YOU,
        SESSION: BECAUSE_YOU,
        SIMILAR: SIMILAR_TO,
        BOUGHT_TOGETHER: BOUGHT_WITH,
        TRENDING: TRENDING_IN,
    }
)
_FIXED_REASONS = {RECENTLY_VIEWED: reasons.RECENTLY_VIEWED, CATALOG: reasons.CATALOG}
_ANCHOR_REASONS = {SIMILAR_TO: reasons.similar_to, BOUGHT_WITH: reasons.often_bought_with}


@dataclass(frozen=True)
class Recommendation:
    """One item of a list with the reason it is shown and the layer that chose it."""

    item: Any
    score: float
    # Worded in the language active when shown (a cached list holds no language).
    reason: reasons.Reason
    source: str
    # The training run that chose it (None before any training): impressions record it.
    run_id: int | None = None
    # Label, page and price as computed when the list was, kept with a cached list.
    known: tuple[str, str | None, Any] | None = field(default=None, repr=False, compare=False)
    # What the people the shopper follows did with the item ("Bought by 3 people you
    # follow"), besides ``reason`` and worded like it; "" when nothing may be told.
    social_reason: reasons.Reason = ""

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


@dataclass(frozen=True)
class Explainer:
    """Turns a chosen candidate into its reason, from the shopper's own data only."""

    adapter: SettingsAdapter
    model: ServingModel | None
    # The history's strongest source of an item (History.source_of).
    sources: Callable[[Any], str | None]
    policies: Mapping[str, str] = field(default_factory=lambda: DEFAULT_REASONS)

    def _explained(self, layer: Layer, pks: list[Any], n: int) -> list[list[Any]]:
        """History items (keys) that contributed most to each of ``pks`` in ``layer``."""
        if layer.explained is not None:
            return layer.explained.of(map(str, pks), n)
        if self.model is None or layer.recommender is None or layer.row is None:
            return [[] for _ in pks]
        cols = self.model.item_cols(pks)
        known = [col for col in cols if col is not None]
        try:
            # One vectorised call for the whole list, not one per item.
            explained = iter(layer.recommender.explain_batch(known, interactions=layer.row, n=n))
        except (ValueError, IndexError, NotImplementedError):
            return [[] for _ in pks]
        return [
            []
            if col is None
            else self.model.item_pks_of([history_col for history_col, _share in next(explained)])
            for col in cols
        ]

    def named(self, chosen: list[tuple[Candidate, Layer | None]]) -> list[list[Any]]:
        """Keys of the items the reason of each chosen candidate may name, best first."""
        named: list[list[Any]] = [[] for _ in chosen]
        by_layer: dict[int, tuple[Layer, list[int]]] = {}
        for position, (_candidate, layer) in enumerate(chosen):
            if layer is not None:
                by_layer.setdefault(id(layer), (layer, []))[1].append(position)
        for layer, positions in by_layer.values():
            policy = self.policies.get(layer.source, FIXED)
            if policy != BECAUSE_YOU and policy not in _ANCHOR_REASONS:
                continue
            personal = policy == BECAUSE_YOU
            pks = [chosen[position][0].pk for position in positions]
            explained = self._explained(layer, pks, 3 if personal else 1)
            for position, names in zip(positions, explained, strict=True):
                named[position] = names if personal else (names + layer.anchor_pks)[:1]
        return named

    def reasons(
        self,
        kept: list[tuple[Candidate, Layer | None, list[Any], Any]],
        catalog: Catalog,
        items: dict[str, Any],
    ) -> list[reasons.Reason]:
        """Why each kept (candidate, layer, named keys, instance) is shown, for a whole list.

        ``items`` holds the instances of the named keys. Items explained alike (naming
        the same history item or anchor, trending in the same category of ``catalog``,
        or of one fixed sentence) share one reason, worked out once per list.
        """
        built: dict[tuple[str, str, Any], reasons.Reason] = {}
        result: list[reasons.Reason] = []
        for _candidate, layer, named, item in kept:
            if layer is None:
                result.append(reasons.PINNED)
                continue
            policy = self.policies.get(layer.source, FIXED)
            pk = None  # the item the reason names
            if policy == TRENDING_IN:
                row = catalog.rows.get(str(item.pk))
                # An item the catalog read does not hold (available since) is on its own.
                key = (policy, "item", str(item.pk)) if row is None else (policy, "", row.category)
            elif policy == BECAUSE_YOU or policy in _ANCHOR_REASONS:
                # The first history item explaining it that is still known, or its anchor.
                for known in named if policy == BECAUSE_YOU else named[:1]:
                    if str(known) in items:
                        pk = known
                        break
                key = (policy, "", None if pk is None else str(pk))
            else:
                result.append(_FIXED_REASONS.get(layer.source, reasons.POPULAR))
                continue
            reason = built.get(key)
            if reason is None:
                reason = built[key] = self._reason(policy, pk, item, items)
            result.append(reason)
        return result

    def _reason(self, policy: str, pk: Any, item: Any, items: dict[str, Any]) -> reasons.Reason:
        """The reason of ``policy`` for ``item``, naming ``pk`` (None: nothing to name)."""
        if policy == TRENDING_IN:
            return reasons.trending_in(category_label=self.adapter.category_label(item))
        if pk is None:
            # A personal model that cannot point at the history (popularity) says so.
            return reasons.POPULAR
        label = self.adapter.item_label(items[str(pk)])
        if policy != BECAUSE_YOU:
            return _ANCHOR_REASONS[policy](label=label)
        source = self.sources(pk) or next(iter(app_settings.source_names(VIEW)), VIEW_SOURCE)
        return reasons.because_you(source=source, label=label)


def recommendations_assemble(
    *,
    adapter: SettingsAdapter,
    model: ServingModel | None,
    chosen: list[tuple[Candidate, Layer | None]],
    history: History,
    catalog: Catalog,
    policies: Mapping[str, str] = DEFAULT_REASONS,
    circle: Circle = NOBODY,
) -> list[Recommendation]:
    """The recommendations of the chosen candidates: the instances shown or named in a
    reason come from the process's catalog (one query for those it has not read yet),
    and with a ``circle``, one query per source for the social reasons."""
    explainer = Explainer(adapter, model, history.source_of, policies)
    named = explainer.named(chosen)
    items = catalog.instances_of(adapter, [c.pk for c, _ in chosen] + [*chain(*named)])
    kept = [
        (candidate, layer, names, items[str(candidate.pk)])
        for (candidate, layer), names in zip(chosen, named, strict=True)
        if str(candidate.pk) in items  # else deleted since it was chosen
    ]
    shown = catalog.shown_of(adapter, [item for *_, item in kept])
    evidence = (
        evidence_collect(adapter, circle, item_pks=[c.pk for c, *_ in kept])
        if circle.followed
        else {}
    )
    run_id = None if model is None else model.run_id
    explained = explainer.reasons(kept, catalog, items)
    result = []
    for (candidate, _layer, _names, item), known, reason in zip(
        kept, shown, explained, strict=True
    ):
        social = social_reason(evidence.get(str(candidate.pk)), circle) if evidence else ""
        if social and candidate.source == FOLLOWED:
            reason, social = social, ""  # the block of the people one follows says it once
        result.append(
            Recommendation(
                item=item,
                score=candidate.score,
                reason=reason,
                source=candidate.source,
                run_id=run_id,
                known=known,
                social_reason=social,
            )
        )
    return result
