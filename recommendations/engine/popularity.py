"""Non-personal baselines: all-time popularity and time-decayed trending."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommendations.engine.base import Recommender


class PopularityRecommender(Recommender, name="popularity"):
    """Rank items by how many users interacted with them.

    Parameters
    ----------
    use_weights : bool
        Sum the weights instead of counting distinct users.
    """

    def __init__(self, *, use_weights: bool = False) -> None:
        self.use_weights = use_weights

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        if self.use_weights:
            counts = np.asarray(interactions.sum(axis=0)).ravel()
        else:
            counts = np.diff(interactions.tocsc().indptr)
        self.item_scores_ = counts.astype(np.float32)

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
    where age is measured from ``now`` to the user's latest interaction with the item.
    Without ``timestamps`` at fit time it falls back to counting users, like popularity.

    Parameters
    ----------
    half_life_days : float
        Age at which an interaction counts half.
    now : float, optional
        Reference unix time; defaults to the latest timestamp seen in training.
    """

    def __init__(self, *, half_life_days: float = 7.0, now: float | None = None) -> None:
        self.half_life_days = half_life_days
        self.now = now

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
        if timestamps is None:
            self.item_scores_ = np.diff(interactions.tocsc().indptr).astype(np.float32)
            return
        # Only pairs with a positive weight count, as in popularity.
        stamps = timestamps.multiply(interactions > 0).tocsc()
        stamps.eliminate_zeros()
        if stamps.nnz == 0:
            self.item_scores_ = np.diff(interactions.tocsc().indptr).astype(np.float32)
            return
        now = float(stamps.data.max()) if self.now is None else float(self.now)
        age_days = np.maximum(now - stamps.data, 0.0) / 86_400.0
        decayed = sp.csc_matrix(
            (np.power(0.5, age_days / half_life), stamps.indices, stamps.indptr),
            shape=stamps.shape,
        )
        self.item_scores_ = np.asarray(decayed.sum(axis=0), dtype=np.float32).ravel()
