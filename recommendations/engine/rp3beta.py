"""RP3beta: item similarities from a three-step random walk with a popularity penalty."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommendations.engine.interactions import apply_weighting
from recommendations.engine.itemknn import (
    BLOCK_CELLS,
    DEFAULT_MAX_HISTORY,
    SimilarityRecommender,
    check_non_negative,
    check_positive_int,
    top_k_per_row,
)


def _row_stochastic(matrix: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    """Each row divided by its sum (a transition matrix), then raised to ``alpha``."""
    sums = np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()
    inverse = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    result = sp.csr_matrix(sp.diags(inverse.astype(np.float32)) @ matrix, dtype=np.float32)
    if alpha != 1.0:
        result.data = np.power(result.data, alpha, dtype=np.float32)
    return result


class RP3betaRecommender(SimilarityRecommender, name="rp3beta"):
    """Score items by the probability of a walk item -> user -> item reaching them.

    With ``P_ui`` the users x items transition matrix (rows of the weighted interactions
    divided by their sums) and ``P_iu`` the items x users one, the similarity of item
    ``i`` to item ``j`` is ``(P_iu^alpha P_ui^alpha)[i, j] / popularity_j ** beta``
    (Paudel et al., 2017): ``beta`` penalises walks that end on best sellers. Each item
    keeps its ``k`` most similar neighbours; a user scores ``x W`` for a history ``x``.

    Parameters
    ----------
    alpha : float
        Exponent of the transition probabilities; below 1 flattens them.
    beta : float
        Popularity penalty: 0 is plain P^3, higher values lift niche items.
    k : int
        Neighbours kept per item.
    normalise : bool
        Scale each item's kept neighbours to sum to 1, so no source item dominates.
    weighting : {"raw", "binary", "log"}
        Transform applied to the weights before anything else.
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
        alpha: float = 1.0,
        beta: float = 0.5,
        k: int = 200,
        normalise: bool = True,
        weighting: str = "binary",
        recency_half_life_days: float | None = None,
        max_history: int | None = DEFAULT_MAX_HISTORY,
    ) -> None:
        self.alpha = alpha
        self.beta = beta
        self.k = k
        self.normalise = normalise
        self.weighting = weighting
        self.recency_half_life_days = recency_half_life_days
        self.max_history = max_history

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        alpha = check_non_negative(self.alpha, "alpha")
        beta = check_non_negative(self.beta, "beta")
        k = check_positive_int(self.k, "k")
        if alpha == 0:
            raise ValueError("alpha must be positive: alpha 0 makes every walk equally likely.")
        if not isinstance(self.normalise, bool):
            raise ValueError(f"normalise must be True or False, got {self.normalise!r}.")
        self._fit_history(interactions, timestamps)
        weighted = apply_weighting(interactions, self.weighting)
        user_to_item = _row_stochastic(weighted, alpha)
        item_to_user = _row_stochastic(weighted.T.tocsr(), alpha)
        popularity = np.diff(weighted.tocsc().indptr).astype(np.float64)
        penalty = np.power(np.maximum(popularity, 1.0), -beta).astype(np.float32)
        n_items = weighted.shape[1]
        block = max(1, BLOCK_CELLS // max(n_items, 1))
        blocks: list[sp.csr_matrix] = []
        for start in range(0, n_items, block):
            stop = min(start + block, n_items)
            walks = sp.csr_matrix(item_to_user[start:stop] @ user_to_item, dtype=np.float32)
            rows = np.repeat(np.arange(start, stop), np.diff(walks.indptr))
            walks.data *= penalty[walks.indices]
            # A walk back to the starting item says nothing about what else to buy.
            walks.data[rows == walks.indices] = 0.0
            blocks.append(top_k_per_row(walks, k))
        similarity = sp.csr_matrix(sp.vstack(blocks, format="csr"), dtype=np.float32)
        if self.normalise:
            sums = np.asarray(similarity.sum(axis=1), dtype=np.float64).ravel()
            inverse = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
            similarity = sp.csr_matrix(sp.diags(inverse.astype(np.float32)) @ similarity)
        similarity.sort_indices()
        self.similarity_ = similarity
