"""Items bought in the same basket: complements, learned from baskets x items."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommendations.engine.interactions import check_weighting
from recommendations.engine.itemknn import (
    BLOCK_CELLS,
    DEFAULT_MAX_HISTORY,
    SimilarityRecommender,
    check_non_negative,
    check_positive_int,
    top_k_per_row,
)


def basket_weights(baskets: sp.csr_matrix) -> np.ndarray:
    """Weight of every basket (row): its largest entry, at most 1; 0 for an empty row."""
    weights = np.zeros(baskets.shape[0], dtype=np.float64)
    filled = np.diff(baskets.indptr) > 0
    if filled.any():
        weights[filled] = np.maximum.reduceat(baskets.data, baskets.indptr[:-1][filled])
    return np.minimum(weights, 1.0)


class CooccurrenceRecommender(SimilarityRecommender, name="cooccurrence"):
    """Score items by how often they are bought in the same basket as the user's items.

    Each row of the matrix given to ``fit`` is one basket (an order), not a user: the
    items bought together. A basket weighs its largest entry, capped at 1 (the trust of
    its buyer, see :mod:`recommendations.trust`), and counts once for every pair of its
    items whatever the quantities, so ``c_ij``, the weighted number of baskets holding
    both ``i`` and ``j``, is at most the number of baskets. The similarity of ``j`` to
    ``i`` is the confidence ``P(j | i) = c_ij / n_i``, damped by the popularity of ``j``
    and shrunk when few baskets back the pair::

        s_ij = c_ij / (n_i * n_j ** alpha) * c_ij / (c_ij + shrinkage)

    where ``n_i`` is the weighted number of baskets holding ``i``. ``alpha`` 0 keeps the
    confidence (best sellers complement everything), 1 gives the lift (rare items
    complement everything); in between ranks items bought *with* ``i`` rather than
    items bought by everyone. Each item keeps its ``k`` best complements.

    Parameters
    ----------
    k : int
        Complements kept per item.
    alpha : float
        Between 0 and 1: how much the popularity of the complement is discounted.
    shrinkage : float
        Pairs backed by few baskets count less: ``c / (c + shrinkage)``.
    min_support : float
        Pairs held by fewer (weighted) baskets than this get no similarity; 0 keeps
        every pair.
    weighting : {"raw", "binary", "log"}
        Transform of a history's weights before scoring (a cart, a basket).
    recency_half_life_days : float, optional
        Score known rows with their history decayed by this half-life (needs
        ``timestamps`` at fit); see :class:`~recommendations.engine.itemknn.HistoryRecommender`.
    max_history : int, optional
        Score a history with its this many heaviest items only; None for all of them.
    """

    def __init__(
        self,
        *,
        k: int = 50,
        alpha: float = 0.5,
        shrinkage: float = 2.0,
        min_support: float = 0.0,
        weighting: str = "binary",
        recency_half_life_days: float | None = None,
        max_history: int | None = DEFAULT_MAX_HISTORY,
    ) -> None:
        self.k = k
        self.alpha = alpha
        self.shrinkage = shrinkage
        self.min_support = min_support
        self.weighting = weighting
        self.recency_half_life_days = recency_half_life_days
        self.max_history = max_history

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        k = check_positive_int(self.k, "k")
        alpha = check_non_negative(self.alpha, "alpha")
        if alpha > 1:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}.")
        shrinkage = check_non_negative(self.shrinkage, "shrinkage")
        min_support = check_non_negative(self.min_support, "min_support")
        check_weighting(self.weighting)
        self._fit_history(interactions, timestamps)
        # One basket counts once per pair: presence, weighted by the basket.
        present = sp.csr_matrix(interactions > 0, dtype=np.float32)
        weights = basket_weights(interactions).astype(np.float32)
        weighted = sp.csr_matrix(sp.diags(weights) @ present, dtype=np.float32)
        by_item = weighted.T.tocsr()
        counts = np.asarray(weighted.sum(axis=0), dtype=np.float64).ravel()
        damped = np.power(counts, alpha)
        n_items = present.shape[1]
        block = max(1, BLOCK_CELLS // max(n_items, 1))
        blocks: list[sp.csr_matrix] = []
        for start in range(0, n_items, block):
            stop = min(start + block, n_items)
            together = sp.csr_matrix(by_item[start:stop] @ present, dtype=np.float64)
            rows = np.repeat(np.arange(start, stop), np.diff(together.indptr))
            columns = together.indices
            pairs = together.data
            keep = (rows != columns) & (pairs >= max(min_support, np.finfo(np.float32).tiny))
            denominator = counts[rows] * damped[columns] * (pairs + shrinkage)
            scores = np.divide(
                pairs * pairs, denominator, out=np.zeros_like(pairs), where=denominator > 0
            )
            together.data = np.where(keep, scores, 0.0)
            together.eliminate_zeros()
            blocks.append(top_k_per_row(sp.csr_matrix(together, dtype=np.float32), k))
        self.similarity_ = sp.csr_matrix(sp.vstack(blocks, format="csr"), dtype=np.float32)
