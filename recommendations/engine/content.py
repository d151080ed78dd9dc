"""Content-based recommendations: items whose features resemble the user's items."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommendations.engine.interactions import WEIGHTINGS
from recommendations.engine.itemknn import (
    BLOCK_CELLS,
    DEFAULT_MAX_HISTORY,
    ItemKNNRecommender,
    check_positive_int,
    top_k_dense,
)


def usable_item_features(item_features: sp.csr_matrix | None) -> sp.csr_matrix | None:
    """``item_features`` when it describes at least one item, else None.

    None, no columns, or only zeros (a shop whose products have no text, category or
    price yet) all mean "no item features": the models then use what else exists.
    """
    if item_features is None or item_features.shape[1] == 0 or item_features.count_nonzero() == 0:
        return None
    return item_features


def normalize_rows(features: sp.csr_matrix) -> sp.csr_matrix:
    """A copy of ``features`` whose non-empty rows have unit L2 norm (float dtype kept)."""
    result = sp.csr_matrix(features, dtype=np.result_type(features.dtype, np.float32), copy=True)
    norms = np.sqrt(np.asarray(result.multiply(result).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    result.data /= np.repeat(norms, np.diff(result.indptr)).astype(result.dtype)
    return result


def describe_features(features: sp.csr_matrix | None, kind: str) -> str:
    """What a model used, for its ``features_used_``: "item features (12 columns)"."""
    if features is None:
        return f"no {kind} features"
    return f"{kind} features ({features.shape[1]} columns)"


class ContentRecommender(ItemKNNRecommender, name="content"):
    """Score items by the cosine similarity of their features to the user's items.

    An item-kNN whose neighbours come from ``item_features`` instead of co-purchases:
    scoring, similar items and explanations are inherited.

    Similarities come from ``item_features`` only, so items nobody has bought yet
    are ranked (and have similar items) like any other. Any columns will do (text
    only, a category only, ...). Without usable item features (None, no columns, all
    zeros) there is nothing to compare: every user gets the items by number of buyers
    (popularity), nothing is similar to anything, and ``features_used_`` says so.

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

    Attributes
    ----------
    features_used_ : str
        What the model ranks with: "item features (N columns)", or "no item features:
        popularity".
    popularity_ : ndarray of float32 or None
        Without item features, the score of every item: its buyers over the most
        bought item's; None with features.
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
        usable = usable_item_features(item_features)
        self.popularity_ = None
        if usable is None:
            buyers = np.diff(interactions.tocsc().indptr).astype(np.float32)
            self.popularity_ = buyers / max(float(buyers.max()), 1.0)
            self.features_used_ = "no item features: popularity"
            self.similarity_ = sp.csr_matrix(interactions.shape[1:] * 2, dtype=np.float32)
            return
        self.features_used_ = describe_features(usable, "item")
        features = normalize_rows(usable)
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

    def _score_weighted(self, rows: sp.csr_matrix) -> np.ndarray:
        if getattr(self, "popularity_", None) is None:
            return super()._score_weighted(rows)
        return np.tile(self.popularity_, (rows.shape[0], 1))

    def _score_history(self, indices: np.ndarray, values: np.ndarray) -> np.ndarray:
        if getattr(self, "popularity_", None) is None:
            return super()._score_history(indices, values)
        return self.popularity_.copy()
