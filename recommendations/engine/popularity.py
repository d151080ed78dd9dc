"""Non-personal baselines: all-time popularity and time-decayed trending."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommendations.engine.base import Recommender
from recommendations.engine.itemknn import check_non_negative


def item_support(interactions: sp.csr_matrix, *, use_weights: bool) -> np.ndarray:
    """Support of every item: its summed weights, or its number of distinct users."""
    if use_weights:
        return np.asarray(interactions.sum(axis=0), dtype=np.float64).ravel()
    return np.diff(interactions.tocsc().indptr).astype(np.float64)


class PopularityRecommender(Recommender, name="popularity"):
    """Rank items by how many users interacted with them.

    Parameters
    ----------
    use_weights : bool
        Sum the weights instead of counting distinct users (a caller that wants
        distinct, unequally trusted users passes each user's trust, at most 1, as the
        weight of each of its pairs).
    min_support : float
        Items whose support (summed weights with ``use_weights``, else distinct users)
        is below this score zero: a handful of accounts cannot make an item popular.
    """

    def __init__(self, *, use_weights: bool = False, min_support: float = 0.0) -> None:
        self.use_weights = use_weights
        self.min_support = min_support

    def _supported(self, interactions: sp.csr_matrix, scores: np.ndarray) -> np.ndarray:
        """``scores`` as float32, zero for the items below ``min_support``."""
        minimum = check_non_negative(self.min_support, "min_support")
        scores = np.asarray(scores, dtype=np.float32)
        if minimum > 0:
            support = item_support(interactions, use_weights=bool(self.use_weights))
            # float32-safe: a support of exactly min_support summed from fractions passes.
            scores = np.where(support >= minimum - 1e-6, scores, np.float32(0.0))
        return scores

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        counts = item_support(interactions, use_weights=bool(self.use_weights))
        self.item_scores_ = self._supported(interactions, counts)

    def _score_rows(self, rows: sp.csr_matrix, user_features) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (rows.shape[0], self.n_items_))

    def _score_users(self, user_ids: np.ndarray) -> np.ndarray:
        # Everyone scores alike: no need to slice their rows out of the matrix.
        return np.broadcast_to(self.item_scores_, (len(user_ids), self.n_items_))

    def _item_similarities(self, item_id: int) -> np.ndarray:
        # Without personal signal, the best "similar items" are the best sellers.
        return self.item_scores_

    def _contributions_batch(self, row: sp.csr_matrix, item_ids: np.ndarray) -> np.ndarray:
        # The user's own history plays no part in a popularity ranking.
        return np.zeros((len(item_ids), row.nnz))


class TrendingRecommender(PopularityRecommender, name="trending"):
    """Rank items by recent popularity: each user's latest interaction decays with age.

    An item scores the sum over its users of ``0.5 ** (age_days / half_life_days)``,
    where age is measured from ``now`` to the user's latest interaction with the item,
    each term multiplied by the pair's weight with ``use_weights``. Without
    ``timestamps`` at fit time it falls back to counting users, like popularity.

    Parameters
    ----------
    half_life_days : float
        Age at which an interaction counts half.
    now : float, optional
        Reference unix time; defaults to the latest timestamp seen in training.
    use_weights : bool
        Weigh each user's term by the weight of the pair (a trust of at most 1).
    min_support : float
        Items whose support (see :class:`PopularityRecommender`) is below this do not
        trend.
    """

    def __init__(
        self,
        *,
        half_life_days: float = 7.0,
        now: float | None = None,
        use_weights: bool = False,
        min_support: float = 0.0,
    ) -> None:
        self.half_life_days = half_life_days
        self.now = now
        self.use_weights = use_weights
        self.min_support = min_support

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        half_life = self.half_life_days
        if isinstance(half_life, bool) or not isinstance(half_life, int | float | np.number):
            raise ValueError(f"half_life_days must be a number, got {half_life!r}.")
        if not np.isfinite(half_life) or half_life <= 0:
            raise ValueError(f"half_life_days must be positive, got {half_life!r}.")
        if self.now is not None and (
            isinstance(self.now, bool)
            or not isinstance(self.now, int | float | np.number)
            or not np.isfinite(self.now)
        ):
            raise ValueError(f"now must be a unix time in seconds, got {self.now!r}.")
        use_weights = bool(self.use_weights)
        counts = item_support(interactions, use_weights=use_weights)
        if timestamps is None:
            self.item_scores_ = self._supported(interactions, counts)
            return
        # Only pairs with a positive weight count, as in popularity.
        stamps = timestamps.multiply(interactions > 0).tocsc()
        stamps.eliminate_zeros()
        stamps.sort_indices()
        if stamps.nnz == 0:
            self.item_scores_ = self._supported(interactions, counts)
            return
        now = float(stamps.data.max()) if self.now is None else float(self.now)
        age_days = np.maximum(now - stamps.data, 0.0) / 86_400.0
        decay = np.power(0.5, age_days / half_life)
        if use_weights:
            # The weights in the order of the timestamps (both hold the same pairs).
            weights = sp.csc_matrix(interactions.multiply(stamps > 0))
            weights.sort_indices()
            decay = decay * weights.data
        decayed = sp.csc_matrix((decay, stamps.indices, stamps.indptr), shape=stamps.shape)
        scores = np.asarray(decayed.sum(axis=0), dtype=np.float32).ravel()
        self.item_scores_ = self._supported(interactions, scores)
