"""PureSVD: a truncated SVD of the interaction matrix, scoring by projection on item factors."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.utils.extmath import randomized_svd

from recommendations.engine.base import Recommender
from recommendations.engine.interactions import apply_weighting
from recommendations.engine.itemknn import check_non_negative, check_positive_int


class SVDRecommender(Recommender, name="svd"):
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
    user_exponent : float
        Each training row is divided by (number of items) ** user_exponent before the
        decomposition, so heavy buyers do not dominate the factors.
    weighting : {"raw", "binary", "log"}
        Transform applied to the weights before anything else.
    n_iter : int
        Power iterations of the randomized SVD; more is slower and more precise.
    random_state : int
        Seed of the randomized SVD, so fits are reproducible.
    """

    def __init__(
        self,
        *,
        factors: int = 48,
        beta: float = 0.0,
        user_exponent: float = 0.0,
        weighting: str = "binary",
        n_iter: int = 7,
        random_state: int = 0,
    ) -> None:
        self.factors = factors
        self.beta = beta
        self.user_exponent = user_exponent
        self.weighting = weighting
        self.n_iter = n_iter
        self.random_state = random_state

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        factors = check_positive_int(self.factors, "factors")
        beta = check_non_negative(self.beta, "beta")
        n_iter = check_positive_int(self.n_iter, "n_iter")
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, int):
            raise ValueError(f"random_state must be an integer, got {self.random_state!r}.")
        weighted = apply_weighting(interactions, self.weighting)
        popularity = np.diff(weighted.tocsc().indptr).astype(np.float64)
        scale = np.power(np.maximum(popularity, 1.0), -beta).astype(np.float32)
        scaled = sp.csr_matrix(weighted @ sp.diags(scale))
        user_exponent = check_non_negative(self.user_exponent, "user_exponent")
        if user_exponent:
            # Heavy buyers would otherwise dominate the leading factors.
            degree = np.maximum(np.diff(scaled.indptr), 1).astype(np.float32)
            scaled = sp.csr_matrix(sp.diags(degree**-user_exponent) @ scaled)
        rank = max(1, min(factors, min(scaled.shape) - 1))
        _, _, vt = randomized_svd(
            scaled.astype(np.float64),
            n_components=rank,
            n_iter=n_iter,
            random_state=self.random_state,
        )
        self.column_scale_ = scale
        self.item_factors_ = np.ascontiguousarray(vt.T, dtype=np.float32)

    def _scaled(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        return sp.csr_matrix(apply_weighting(rows, self.weighting) @ sp.diags(self.column_scale_))

    def _score_rows(self, rows: sp.csr_matrix, user_features) -> np.ndarray:
        users = self._scaled(rows) @ self.item_factors_
        return np.asarray(users @ self.item_factors_.T, dtype=np.float32)

    def _item_similarities(self, item_id: int) -> np.ndarray:
        return self.item_factors_ @ self.item_factors_[item_id]

    def _contributions(self, row: sp.csr_matrix, item_id: int) -> np.ndarray:
        scaled = self._scaled(row)
        similarities = self._item_similarities(item_id)
        return scaled.data * similarities[scaled.indices]
