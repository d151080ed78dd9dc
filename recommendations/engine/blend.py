"""A weighted blend of several recommenders, weights chosen on a validation period.

The last ``validation_days`` of the training events are held out (or several such
periods, one before the other, with ``validation_folds``); every component is fitted on
the earlier pairs, and the weights that give the best mean NDCG@k on the held-out new
items are found by coordinate search over a grid. As in the test protocol, repeat
purchases are not new items: a pair heavier than one event whose latest time falls in
a validation period stays in the history. The components are then fitted again on all
the events. Scores are normalised per user before mixing (z-score over the catalog, or
reciprocal rank), so components on different scales mix fairly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommendations.engine.base import Recommender, registered
from recommendations.engine.itemknn import check_non_negative, check_positive_int
from recommendations.engine.metrics import ndcg_at_k
from recommendations.engine.split import holdout_new_items

SECONDS_PER_DAY = 86_400.0

#: Components of the default blend: none of them needs item or user features. The
#: history of known users decays with a 120-day half-life (chosen on validation folds of
#: Online Retail, see benchmarks/README.md); RP3beta got no weight in any good mix there.
RECENCY_HALF_LIFE_DAYS = 120.0
DEFAULT_COMPONENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ease", {"recency_half_life_days": RECENCY_HALF_LIFE_DAYS}),
    ("item_knn", {"recency_half_life_days": RECENCY_HALF_LIFE_DAYS}),
    ("svd", {"recency_half_life_days": RECENCY_HALF_LIFE_DAYS}),
    ("trending", {}),
)
# Validation scores are dense users x items matrices: cap their cells on large catalogs.
VALIDATION_CELLS = 20_000_000
DEFAULT_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
NORMALISATIONS = ("zscore", "rank")


def standardise_rows(scores: np.ndarray) -> np.ndarray:
    """Z-score each row over its finite entries; non-finite entries get the row minimum."""
    scores = np.array(scores, dtype=np.float32)
    finite = np.isfinite(scores)
    if not finite.all():
        floor = np.where(finite, scores, np.inf).min(axis=1, keepdims=True)
        scores = np.where(finite, scores, np.where(np.isfinite(floor), floor, 0.0))
    mean = scores.mean(axis=1, keepdims=True)
    spread = scores.std(axis=1, keepdims=True)
    spread[spread <= 1e-12] = 1.0
    scores -= mean
    scores /= spread
    return scores


def rank_rows(scores: np.ndarray, offset: float = 20.0) -> np.ndarray:
    """Reciprocal rank of each entry in its row, ``1 / (offset + rank)`` (rank 1 is best)."""
    scores = np.asarray(scores, dtype=np.float32)
    safe = np.where(np.isfinite(scores), scores, -np.inf)
    order = np.argsort(-safe, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, scores.shape[1] + 1)[None, :], axis=1)
    return (1.0 / (offset + ranks)).astype(np.float32)


def _top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` best entries of every row, best first."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def _fit_component(
    klass: type[Recommender], params: dict[str, Any], interactions: sp.csr_matrix, **kwargs: Any
) -> Recommender:
    """A component fitted on ``interactions``; its errors say which component failed."""
    try:
        return klass(**params).fit(interactions, **kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"blend component {klass.name!r}: {exc}") from exc


class BlendRecommender(Recommender, name="blend"):
    """Mix the standardised scores of several recommenders with learned weights.

    Parameters
    ----------
    components : sequence of (name, params) pairs, optional
        Registered recommender names and their keyword arguments; by default
        :data:`DEFAULT_COMPONENTS` (EASE, item-kNN and SVD with time-decayed
        histories, and trending).
    weights : sequence of float, optional
        Fixed weights, one per component: no validation period is carved and
        ``timestamps`` are not needed.
    validation_days : float
        Length of the validation period at the end of the training events.
    grid : sequence of float
        Candidate weights of the coordinate search.
    passes : int
        Rounds of the coordinate search over all components.
    k : int
        Cut-off of the NDCG the weights maximise.
    max_validation_users : int
        Validation users scored at most (a deterministic subset beyond it); fewer on
        catalogs so large that their dense scores would exceed ``VALIDATION_CELLS``.
    validation_folds : int
        Consecutive validation periods of ``validation_days`` each; the weights
        maximise their mean NDCG (each one costs a fit of every component).
    normalisation : {"zscore", "rank"}
        Per-user score normalisation before mixing: z-score over the catalog, or the
        reciprocal rank ``1 / (20 + rank)``.
    new_items_only : bool
        Treat a pair whose latest time is in a validation period but whose weight is
        above the lightest pair's (several events) as history, not as a new item.
    random_state : int
        Seed of the validation subset.
    """

    def __init__(
        self,
        *,
        components: Sequence[tuple[str, dict[str, Any]]] | None = None,
        weights: Sequence[float] | None = None,
        validation_days: float = 30.0,
        grid: Sequence[float] = DEFAULT_GRID,
        passes: int = 2,
        k: int = 20,
        max_validation_users: int = 3000,
        validation_folds: int = 1,
        normalisation: str = "zscore",
        new_items_only: bool = True,
        random_state: int = 0,
    ) -> None:
        self.components = components
        self.weights = weights
        self.validation_days = validation_days
        self.grid = grid
        self.passes = passes
        self.k = k
        self.max_validation_users = max_validation_users
        self.validation_folds = validation_folds
        self.normalisation = normalisation
        self.new_items_only = new_items_only
        self.random_state = random_state

    # -- fitting --------------------------------------------------------------

    def _component_specs(self) -> list[tuple[type[Recommender], dict[str, Any]]]:
        specs = DEFAULT_COMPONENTS if self.components is None else self.components
        if isinstance(specs, str | bytes) or not specs:
            raise ValueError("components must be a non-empty sequence of (name, params) pairs.")
        classes = registered()
        result = []
        for spec in specs:
            if isinstance(spec, str | bytes) or len(spec) != 2:
                raise ValueError(f"Each component must be a (name, params) pair, got {spec!r}.")
            name, params = spec
            if name == self.name or name not in classes:
                known = ", ".join(sorted(n for n in classes if n != self.name))
                raise ValueError(f"Unknown blend component {name!r}; choose from: {known}.")
            if not isinstance(params, dict):
                raise ValueError(f"Parameters of component {name!r} must be a dict.")
            result.append((classes[name], dict(params)))
        return result

    def _fixed_weights(self, n_components: int) -> np.ndarray | None:
        if self.weights is None:
            return None
        weights = np.asarray(
            [check_non_negative(w, "weights") for w in self.weights], dtype=np.float32
        )
        if weights.size != n_components:
            raise ValueError(f"weights has {weights.size} values for {n_components} components.")
        if not weights.any():
            raise ValueError("weights must not all be zero.")
        return weights

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        specs = self._component_specs()
        weights = self._fixed_weights(len(specs))
        check_positive_int(self.k, "k")
        check_positive_int(self.passes, "passes")
        check_positive_int(self.max_validation_users, "max_validation_users")
        if not isinstance(self.new_items_only, bool):
            raise ValueError(f"new_items_only must be True or False, got {self.new_items_only!r}.")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(
                f"normalisation must be one of {', '.join(NORMALISATIONS)}; "
                f"got {self.normalisation!r}."
            )
        for value in self.grid:
            check_non_negative(value, "grid")
        self.validation_ndcg_ = None
        if weights is None:
            weights = self._search_weights(
                specs,
                interactions,
                user_features=user_features,
                item_features=item_features,
                timestamps=timestamps,
            )
        components = []
        for (klass, params), weight in zip(specs, weights, strict=True):
            if weight > 0:
                components.append(
                    _fit_component(
                        klass,
                        params,
                        interactions,
                        user_features=user_features,
                        item_features=item_features,
                        timestamps=timestamps,
                    )
                )
        self.components_ = components
        self.weights_ = weights[weights > 0].astype(np.float32)

    def _search_weights(
        self,
        specs: list[tuple[type[Recommender], dict[str, Any]]],
        interactions: sp.csr_matrix,
        *,
        user_features: sp.csr_matrix | None,
        item_features: sp.csr_matrix | None,
        timestamps: sp.csr_matrix | None,
    ) -> np.ndarray:
        """Weights maximising the mean NDCG@k over the last validation periods."""
        if timestamps is None:
            raise ValueError(
                "blend needs timestamps (latest unix time of each pair) to carve its "
                "validation period, or fixed weights."
            )
        days = check_non_negative(self.validation_days, "validation_days")
        n_folds = check_positive_int(self.validation_folds, "validation_folds")
        if days == 0:
            raise ValueError("validation_days must be positive when weights are not given.")
        if timestamps.nnz == 0:
            raise ValueError("timestamps is empty: no event time to carve validation from.")
        latest = timestamps.data.max()
        folds = []
        for fold in range(n_folds):
            end = latest - fold * days * SECONDS_PER_DAY
            folds.append(
                self._validation_fold(
                    specs,
                    interactions,
                    timestamps,
                    start=end - days * SECONDS_PER_DAY,
                    # The last fold ends after the latest event, so that event counts.
                    end=np.inf if fold == 0 else end,
                    user_features=user_features,
                    item_features=item_features,
                )
            )
        k = int(self.k)

        def quality(weights: np.ndarray) -> float:
            total = 0.0
            for scores, relevant in folds:
                mixed = np.zeros_like(scores[0])
                for weight, part in zip(weights, scores, strict=True):
                    if weight:
                        mixed += weight * part
                total += ndcg_at_k(_top_k_rows(mixed, k), relevant, k)
            return total / len(folds)

        weights = np.ones(len(specs), dtype=np.float64)
        best = quality(weights)
        for _ in range(int(self.passes)):
            improved = False
            for index in range(len(specs)):
                for value in self.grid:
                    trial = weights.copy()
                    trial[index] = float(value)
                    if not trial.any() or trial[index] == weights[index]:
                        continue
                    score = quality(trial)
                    if score > best + 1e-9:
                        best, weights, improved = score, trial, True
            if not improved:
                break
        self.validation_ndcg_ = float(best)
        return weights.astype(np.float32)

    def _validation_fold(
        self,
        specs: list[tuple[type[Recommender], dict[str, Any]]],
        interactions: sp.csr_matrix,
        timestamps: sp.csr_matrix,
        *,
        start: float,
        end: float,
        user_features: sp.csr_matrix | None,
        item_features: sp.csr_matrix | None,
    ) -> tuple[list[np.ndarray], sp.csr_matrix]:
        """Normalised component scores and new items of the pairs last bought in [start, end).

        Components are fitted on the pairs last bought before ``start``; pairs last bought
        after ``end`` are left out of both, since their earlier events are not known.
        """
        window = timestamps.copy()
        window.data = ((window.data >= start) & (window.data < end)).astype(np.float32)
        window.eliminate_zeros()
        before = timestamps.copy()
        before.data = (before.data < start).astype(np.float32)
        before.eliminate_zeros()
        if self.new_items_only:
            # Only the latest time of a pair is known. A pair weighing more than the
            # lightest pair of all had several events, likely one before the window: it is
            # history, not a new item, as in the test protocol, where repeats never count.
            repeated = sp.csr_matrix(window.multiply(interactions > interactions.data.min()))
            window = sp.csr_matrix(window - repeated)
            window.eliminate_zeros()
            before = sp.csr_matrix(before + repeated)
        earlier = sp.csr_matrix(interactions.multiply(before), dtype=np.float32)
        # Repeats keep a time just before the window, so time-aware components see no future.
        earlier_times = timestamps.copy()
        earlier_times.data = np.minimum(earlier_times.data, start - 1.0)
        earlier_times = sp.csr_matrix(earlier_times.multiply(before))
        validation = sp.csr_matrix(interactions.multiply(window), dtype=np.float32)
        target = holdout_new_items(earlier, validation)
        users = np.flatnonzero(np.diff(target.indptr) > 0)
        if users.size == 0:
            raise ValueError(
                f"No user bought new items in the last {self.validation_days:g} days of "
                "a validation period after buying before it: lower validation_days or "
                "validation_folds, or give fixed weights."
            )
        limit = min(
            int(self.max_validation_users), max(100, VALIDATION_CELLS // interactions.shape[1])
        )
        if users.size > limit:
            rng = np.random.default_rng(self.random_state)
            users = np.sort(rng.choice(users, size=limit, replace=False))
        seen = earlier[users].nonzero()
        scores = []
        for klass, params in specs:
            component = _fit_component(
                klass,
                params,
                earlier,
                user_features=user_features,
                item_features=item_features,
                timestamps=earlier_times,
            )
            part = self._normalise(component._score_users(users))
            # Items already bought are never recommended: take them out of the ranking.
            part[seen] = -np.inf
            scores.append(part)
        return scores, target[users]

    # -- scoring --------------------------------------------------------------

    def _normalise(self, scores: np.ndarray) -> np.ndarray:
        if self.normalisation == "rank":
            return rank_rows(scores)
        return standardise_rows(scores)

    def _mix(self, parts: list[np.ndarray]) -> np.ndarray:
        mixed = np.zeros_like(parts[0], dtype=np.float32)
        for weight, scores in zip(self.weights_, parts, strict=True):
            mixed += weight * self._normalise(scores)
        return mixed

    def _score_rows(self, rows: sp.csr_matrix, user_features) -> np.ndarray:
        return self._mix([c._score_rows(rows, user_features) for c in self.components_])

    def _score_users(self, user_ids: np.ndarray) -> np.ndarray:
        return self._mix([c._score_users(user_ids) for c in self.components_])

    def _item_similarities(self, item_id: int) -> np.ndarray:
        total = np.zeros(self.n_items_, dtype=np.float32)
        found = False
        for weight, component in zip(self.weights_, self.components_, strict=True):
            try:
                similarities = np.asarray(component._item_similarities(item_id), np.float32)
            except NotImplementedError:
                continue
            found = True
            # Scale each component's similarities to a maximum of 1 before weighting.
            peak = np.abs(similarities).max()
            if peak > 0:
                total += weight * similarities / peak
        if not found:
            raise NotImplementedError("No blend component has item similarities.")
        return total

    def _contributions(self, row: sp.csr_matrix, item_id: int) -> np.ndarray:
        total = np.zeros(row.nnz, dtype=np.float64)
        for weight, component in zip(self.weights_, self.components_, strict=True):
            try:
                parts = np.asarray(component._contributions(row, item_id), dtype=np.float64)
            except NotImplementedError:
                continue
            # Shares within each component, so scales do not matter.
            scale = np.abs(parts).sum()
            if scale > 0:
                total += weight * parts / scale
        return total
