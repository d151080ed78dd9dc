"""EASE: a closed-form linear item-to-item model (Steck, 2019)."""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from recommendations.engine.interactions import apply_weighting, weight_values
from recommendations.engine.itemknn import (
    DEFAULT_MAX_HISTORY,
    HistoryRecommender,
    check_non_negative,
    check_positive_int,
)

# Small catalogs are inverted in float64 (cheap, most precise); above this many items
# float32 halves memory and nearly halves time, with identical rankings on the benchmark.
FLOAT64_MAX_ITEMS = 2_000


class EASERecommender(HistoryRecommender, name="ease"):
    """Score items with a dense item x item weight matrix learned in closed form.

    ``B = I - P / diag(P)`` with ``P = (X^T X + l2 I)^-1``, so each item is predicted
    from every other item the user has, never from itself. Memory and time grow with
    the square and cube of the catalog, hence ``max_items``.

    Parameters
    ----------
    l2 : float
        Ridge penalty on the diagonal of the Gram matrix; larger is smoother.
    weighting : {"raw", "binary", "log"}
        Transform applied to the weights before anything else.
    max_items : int
        Refuse to fit larger catalogs: two dense float32 matrices are needed at once,
        about ``8 * n_items ** 2`` bytes. Use ``item_knn`` or ``svd`` there.
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
        l2: float = 500.0,
        weighting: str = "binary",
        max_items: int = 20_000,
        recency_half_life_days: float | None = None,
        max_history: int | None = DEFAULT_MAX_HISTORY,
    ) -> None:
        self.l2 = l2
        self.weighting = weighting
        self.max_items = max_items
        self.recency_half_life_days = recency_half_life_days
        self.max_history = max_history

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        l2 = check_non_negative(self.l2, "l2")
        max_items = check_positive_int(self.max_items, "max_items")
        if l2 == 0:
            raise ValueError("l2 must be positive: the Gram matrix may be singular without it.")
        n_items = interactions.shape[1]
        if n_items > max_items:
            raise ValueError(
                f"EASE needs a dense {n_items} x {n_items} matrix; the catalog has more than "
                f"max_items={max_items} items. Raise max_items if memory allows "
                "(about 8 * n_items ** 2 bytes) or use item_knn or svd."
            )
        self._fit_history(interactions, timestamps)
        weighted = apply_weighting(interactions, self.weighting)
        dtype = np.float64 if n_items <= FLOAT64_MAX_ITEMS else np.float32
        gram = np.asarray((weighted.T @ weighted).toarray(), dtype=dtype)
        gram[np.diag_indices(n_items)] += l2
        # Cholesky inverse of the symmetric positive definite Gram matrix, in place.
        precision = scipy.linalg.cho_solve(
            scipy.linalg.cho_factor(gram, overwrite_a=True, check_finite=False),
            np.eye(n_items, dtype=dtype),
            overwrite_b=True,
            check_finite=False,
        )
        del gram
        # In place: a second n_items x n_items matrix would double the peak memory.
        precision /= -np.diag(precision).copy()[None, :]
        precision[np.diag_indices(n_items)] = 0.0
        self.weights_ = np.ascontiguousarray(precision, dtype=np.float32)

    def _score_weighted(self, rows: sp.csr_matrix) -> np.ndarray:
        return np.asarray(rows @ self.weights_, dtype=np.float32)

    def _item_similarities(self, item_id: int) -> np.ndarray:
        return self.weights_[item_id]

    def _contributions_batch(self, row: sp.csr_matrix, item_ids: np.ndarray) -> np.ndarray:
        values = weight_values(row.data, self.weighting)
        return values[None, :] * self.weights_[np.ix_(row.indices, item_ids)].T
