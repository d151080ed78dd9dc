"""PureSVD: a truncated SVD of the interaction matrix, scoring by projection on item factors."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd

from recommendations.engine.interactions import apply_weighting, weight_values
from recommendations.engine.itemknn import (
    DEFAULT_MAX_HISTORY,
    HistoryRecommender,
    check_non_negative,
    check_positive_int,
)


class SVDRecommender(HistoryRecommender, name="svd"):
    """Rank items by the rank-``factors`` reconstruction of the user's row.

    The weighted matrix has each item column divided by its popularity ** ``beta``
    (popularity debiasing) before a truncated SVD ``X ~ U S V^T``; a user with row
    ``x`` (known or new, folded in the same way) scores ``(x V) V^T``.

    Parameters
    ----------
    factors : int
        Rank of the decomposition; capped at min(n_users, n_items) - 1.
    beta : float
        Popularity debiasing exponent: 0 is plain PureSVD, higher values lift niche items.
    weighting : {"raw", "binary", "log"}
        Transform applied to the weights before anything else.
    n_iter : int
        Power iterations of the randomized SVD; more is slower and more precise.
    random_state : int
        Seed of the randomized SVD, so fits are reproducible.
    recency_half_life_days : float, optional
        Score known users with their history decayed by this half-life (needs
        ``timestamps`` at fit); see :class:`~recommendations.engine.itemknn.HistoryRecommender`.
    max_history : int, optional
        Score a history with its this many heaviest (most recent) items only; None
        for all of them. See :class:`~recommendations.engine.itemknn.HistoryRecommender`.
    """

    def __init__(
        self,
        *,
        factors: int = 48,
        beta: float = 0.0,
        weighting: str = "binary",
        n_iter: int = 7,
        random_state: int = 0,
        recency_half_life_days: float | None = None,
        max_history: int | None = DEFAULT_MAX_HISTORY,
    ) -> None:
        self.factors = factors
        self.beta = beta
        self.weighting = weighting
        self.n_iter = n_iter
        self.random_state = random_state
        self.recency_half_life_days = recency_half_life_days
        self.max_history = max_history

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        factors = check_positive_int(self.factors, "factors")
        beta = check_non_negative(self.beta, "beta")
        n_iter = check_positive_int(self.n_iter, "n_iter")
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, int):
            raise ValueError(f"random_state must be an integer, got {self.random_state!r}.")
        self._fit_history(interactions, timestamps)
        weighted = apply_weighting(interactions, self.weighting)
        popularity = np.diff(weighted.tocsc().indptr).astype(np.float64)
        scale = np.power(np.maximum(popularity, 1.0), -beta).astype(np.float32)
        scaled = sp.csr_matrix(weighted @ sp.diags(scale))
        rank = max(1, min(factors, min(scaled.shape) - 1))
        _, _, vt = randomized_svd(
            scaled.astype(np.float64),
            n_components=rank,
            n_iter=n_iter,
            random_state=self.random_state,
        )
        self.column_scale_ = scale
        self.item_factors_ = np.ascontiguousarray(vt.T, dtype=np.float32)
        self._after_load()

    def _after_load(self) -> None:
        # Folding a user in is x (D V): keep the column scaling folded into the factors.
        self._scaled_factors = self.item_factors_ * self.column_scale_[:, None]

    def _score_weighted(self, rows: sp.csr_matrix) -> np.ndarray:
        users = rows @ self._scaled_factors
        return np.asarray(users @ self.item_factors_.T, dtype=np.float32)

    def _score_history(self, indices: np.ndarray, values: np.ndarray) -> np.ndarray:
        # One user (the serving case): plain numpy is cheaper than sparse products,
        # and a matrix-vector product over the contiguous factors is the fastest.
        user = values @ self._scaled_factors[indices]
        return np.asarray(self.item_factors_ @ user, dtype=np.float32)

    def _item_similarities(self, item_id: int) -> np.ndarray:
        return self.item_factors_ @ self.item_factors_[item_id]

    def _contributions_batch(self, row: sp.csr_matrix, item_ids: np.ndarray) -> np.ndarray:
        values = weight_values(row.data, self.weighting) * self.column_scale_[row.indices]
        # float64: a float32 product's rounding would depend on how many items are asked.
        items = self.item_factors_[item_ids].astype(np.float64)
        return values[None, :] * (items @ self.item_factors_[row.indices].T.astype(np.float64))
