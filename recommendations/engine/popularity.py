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
