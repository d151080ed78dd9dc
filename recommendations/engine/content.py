"""Content-based recommendations: items whose features resemble the user's items."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from recommendations.engine.interactions import WEIGHTINGS
from recommendations.engine.itemknn import (
    BLOCK_CELLS,
    DEFAULT_MAX_HISTORY,
    ItemKNNRecommender,
    check_positive_int,
    top_k_dense,
)


def require_item_features(item_features: sp.csr_matrix | None, model: str) -> sp.csr_matrix:
    """``item_features`` if it has at least one column, else a ValueError naming ``model``."""
    if item_features is None:
        raise ValueError(
            f"{model} needs item_features at fit (for example "
            "recommendations.engine.features.item_features(texts, categories, prices))."
        )
    if item_features.shape[1] == 0:
        raise ValueError(f"{model} needs item_features with at least one column.")
    return item_features


class ContentRecommender(ItemKNNRecommender, name="content"):
    """Score items by the cosine similarity of their features to the user's items.

    An item-kNN whose neighbours come from ``item_features`` instead of co-purchases:
    scoring, similar items and explanations are inherited.

    Similarities come from ``item_features`` only, so items nobody has bought yet
    are ranked (and have similar items) like any other.

    Parameters
    ----------
    k : int
        Neighbours kept per item.
    weighting : {"raw", "binary", "log"}
        Transform of the user's interaction weights before scoring.
    recency_half_life_days : float, optional
        Score known users with their history decayed by this half-life (needs
        ``timestamps`` at fit); see :class:`~recommendations.engine.itemknn.HistoryRecommender`.
    max_history : int, optional
        Score a history with its this many heaviest (most recent) items only; None
        for all of them.
    """

    def __init__(
        self,
        *,
        k: int = 50,
        weighting: str = "log",
        recency_half_life_days: float | None = None,
        max_history: int | None = DEFAULT_MAX_HISTORY,
    ) -> None:
        self.k = k
        self.weighting = weighting
        self.recency_half_life_days = recency_half_life_days
        self.max_history = max_history

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        k = check_positive_int(self.k, "k")
        if self.weighting not in WEIGHTINGS:
            raise ValueError(
                f"weighting must be one of {', '.join(WEIGHTINGS)}; got {self.weighting!r}."
            )
        self._fit_history(interactions, timestamps)
        features = normalize(require_item_features(item_features, "content"))
        features_t = features.T.tocsr()
        n_items = features.shape[0]
        block = max(1, BLOCK_CELLS // max(n_items, 1))
        blocks = []
        for start in range(0, n_items, block):
            stop = min(start + block, n_items)
            cosine = (features[start:stop] @ features_t).toarray()
            cosine[np.arange(stop - start), np.arange(start, stop)] = 0.0
            blocks.append(top_k_dense(cosine.astype(np.float32), k))
        self.similarity_ = sp.csr_matrix(sp.vstack(blocks, format="csr"), dtype=np.float32)
