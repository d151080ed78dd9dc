"""A weighted blend of several recommenders, weights chosen on a validation period.

The last ``validation_days`` of the training events are held out; every component is
fitted on the rest, and the weights that give the best NDCG@k on the held-out new items
are found by coordinate search over a grid. The components are then fitted again on
all the events. Scores are standardised per user before mixing (z-score over the
catalog), so components on different scales mix fairly.
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

#: Components of the default blend: none of them needs item or user features.
DEFAULT_COMPONENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("ease", {}),
    ("item_knn", {}),
    ("svd", {}),
    ("trending", {}),
)
# Validation scores are dense users x items matrices: cap their cells on large catalogs.
VALIDATION_CELLS = 20_000_000
DEFAULT_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


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
        :data:`DEFAULT_COMPONENTS` (EASE, item-kNN, SVD and trending).
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
        random_state: int = 0,
    ) -> None:
        self.components = components
        self.weights = weights
        self.validation_days = validation_days
        self.grid = grid
        self.passes = passes
        self.k = k
        self.max_validation_users = max_validation_users
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
        """Weights maximising NDCG@k on the last ``validation_days`` of the events."""
        if timestamps is None:
            raise ValueError(
                "blend needs timestamps (latest unix time of each pair) to carve its "
                "validation period, or fixed weights."
            )
        days = check_non_negative(self.validation_days, "validation_days")
        if days == 0:
            raise ValueError("validation_days must be positive when weights are not given.")
        if timestamps.nnz == 0:
            raise ValueError("timestamps is empty: no event time to carve validation from.")
        cutoff = timestamps.data.max() - days * SECONDS_PER_DAY
        late = timestamps.copy()
        late.data = (late.data >= cutoff).astype(np.float32)
        late.eliminate_zeros()
        validation = sp.csr_matrix(interactions.multiply(late), dtype=np.float32)
        earlier = sp.csr_matrix(interactions - validation, dtype=np.float32)
        earlier.eliminate_zeros()
        earlier_times = sp.csr_matrix(timestamps - timestamps.multiply(late))
        earlier_times.eliminate_zeros()
        target = holdout_new_items(earlier, validation)
        users = np.flatnonzero(np.diff(target.indptr) > 0)
        if users.size == 0:
            raise ValueError(
                f"No user bought new items in the last {days:g} days of training after "
                "buying before them: lower validation_days or give fixed weights."
            )
        limit = min(
            int(self.max_validation_users), max(100, VALIDATION_CELLS // interactions.shape[1])
        )
        if users.size > limit:
            rng = np.random.default_rng(self.random_state)
            users = np.sort(rng.choice(users, size=limit, replace=False))
        seen = earlier[users]
        standardised = []
        for klass, params in specs:
            component = _fit_component(
                klass,
                params,
                earlier,
                user_features=user_features,
                item_features=item_features,
                timestamps=earlier_times,
            )
            scores = standardise_rows(component._score_users(users))
            # Items already bought are never recommended: take them out of the ranking.
            scores[seen.nonzero()] = -np.inf
            standardised.append(scores)
        relevant = target[users]
        k = int(self.k)

        def quality(weights: np.ndarray) -> float:
            mixed = np.zeros_like(standardised[0])
            for weight, scores in zip(weights, standardised, strict=True):
                if weight:
                    mixed += weight * scores
            return ndcg_at_k(_top_k_rows(mixed, k), relevant, k)

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

    # -- scoring --------------------------------------------------------------

    def _mix(self, parts: list[np.ndarray]) -> np.ndarray:
        mixed = np.zeros_like(parts[0], dtype=np.float32)
        for weight, scores in zip(self.weights_, parts, strict=True):
            mixed += weight * standardise_rows(scores)
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
