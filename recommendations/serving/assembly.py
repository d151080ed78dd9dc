"""Assembly: the chosen candidates become recommendations with instances and reasons.

A reason only ever names the shopper's own data (their history, this session's views)
or the item on screen: how each layer's items are explained is its reason policy
(:data:`DEFAULT_REASONS`, which a block's spec may replace).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
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
            return [layer.explained.get(str(pk), [])[:n] for pk in pks]
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

    def named(self, chosen: list[Candidate], layers: list[Layer | None]) -> list[list[Any]]:
        """Keys of the items the reason of each chosen candidate may name, best first."""
        named: list[list[Any]] = [[] for _ in chosen]
        by_layer: dict[int, tuple[Layer, list[int]]] = {}
        for position, layer in enumerate(layers):
            if layer is not None:
                by_layer.setdefault(id(layer), (layer, []))[1].append(position)
        for layer, positions in by_layer.values():
            policy = self.policies.get(layer.source, FIXED)
            if policy != BECAUSE_YOU and policy not in _ANCHOR_REASONS:
                continue
            personal = policy == BECAUSE_YOU
            pks = [chosen[position].pk for position in positions]
            explained = self._explained(layer, pks, 3 if personal else 1)
            for position, names in zip(positions, explained, strict=True):
                named[position] = names if personal else (names + layer.anchor_pks)[:1]
        return named

    def reason(
        self, item: Any, layer: Layer | None, named: list[Any], items: dict[str, Any]
    ) -> reasons.Reason:
        """Why ``item`` is shown; ``items`` holds the instances of the ``named`` keys."""
        if layer is None:
            return reasons.PINNED
        policy = self.policies.get(layer.source, FIXED)
        if policy == BECAUSE_YOU:
            for pk in named:
                if str(pk) in items:
                    label = self.adapter.item_label(items[str(pk)])
                    source = self.sources(pk) or next(
                        iter(app_settings.source_names(VIEW)), VIEW_SOURCE
                    )
                    return reasons.because_you(source=source, label=label)
            # A personal model that cannot point at the history (popularity) says so.
            return reasons.POPULAR
        if policy in _ANCHOR_REASONS:
            if named and str(named[0]) in items:
                label = self.adapter.item_label(items[str(named[0])])
                return _ANCHOR_REASONS[policy](label=label)
            return reasons.POPULAR
        if policy == TRENDING_IN:
            return reasons.trending_in(category_label=self.adapter.category_label(item))
        return _FIXED_REASONS.get(layer.source, reasons.POPULAR)


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
    candidates = [candidate for candidate, _ in chosen]
    layers = [layer for _, layer in chosen]
    named = explainer.named(candidates, layers)
    items = catalog.instances_of(
        adapter, [c.pk for c in candidates] + [pk for pks in named for pk in pks]
    )
    kept = [
        (candidate, layer, names, items[str(candidate.pk)])
        for candidate, layer, names in zip(candidates, layers, named, strict=True)
        if str(candidate.pk) in items  # else deleted since it was chosen
    ]
    shown = catalog.shown_of(adapter, [item for *_, item in kept])
    evidence = (
        evidence_collect(adapter, circle, item_pks=[c.pk for c, *_ in kept]) if circle else {}
    )
    run_id = None if model is None else model.run_id
    result = []
    for (candidate, layer, names, item), known in zip(kept, shown, strict=True):
        social = social_reason(evidence.get(str(candidate.pk)), circle) if evidence else ""
        reason = explainer.reason(item, layer, names, items)
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
