"""Alternatives to an item: items that look like it and that the same people buy."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recommendations.engine.content import ContentRecommender
from recommendations.engine.itemknn import (
    DEFAULT_MAX_HISTORY,
    ItemKNNRecommender,
    SimilarityRecommender,
    check_non_negative,
    check_positive_int,
    top_k_per_row,
)


def row_max_scaled(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """``matrix`` with every row divided by its largest entry (rows without any stay empty)."""
    matrix = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
    lengths = np.diff(matrix.indptr)
    filled = lengths > 0
    peaks = np.ones(matrix.shape[0], dtype=np.float32)
    if filled.any():
        peaks[filled] = np.maximum.reduceat(matrix.data, matrix.indptr[:-1][filled])
    peaks[peaks <= 0] = 1.0
    matrix.data /= np.repeat(peaks, lengths)
    return matrix


class SimilarBlendRecommender(SimilarityRecommender, name="similar_blend"):
    """Item-to-item alternatives: content look-alikes, ranked up by shared buyers.

    Two item x item similarities, each scaled so an item's closest neighbour scores 1,
    are mixed: the cosine of the item features (category, price band, words of the
    description: :class:`~recommendations.engine.content.ContentRecommender`) with
    weight ``content_weight``, and item-kNN over users (people who bought ``i`` also
    bought ``j``: :class:`~recommendations.engine.itemknn.ItemKNNRecommender`) with the
    rest. Look-alikes of the same kind lead; among them, those the same customers buy
    come first, and an item without features (or a host without CATEGORY_FIELD and
    TEXT_FIELDS) gets its behavioural neighbours alone. Each item keeps its ``k`` best.

    Parameters
    ----------
    k : int
        Neighbours kept per item (and by each of the two parts before the mix).
    content_weight : float
        Between 0 and 1: the share of the content similarity in the mix.
    item_knn : dict, optional
        Parameters of the item-kNN part (``k`` defaults to this model's ``k``).
    min_support : float
        Pairs that fewer than this many distinct users have together get no
        behavioural similarity (the content part needs no buyers).
    weighting : {"raw", "binary", "log"}
        Transform of a history's weights before scoring.
    recency_half_life_days : float, optional
        Score known users with their history decayed by this half-life (needs
        ``timestamps`` at fit); see :class:`~recommendations.engine.itemknn.HistoryRecommender`.
    max_history : int, optional
        Score a history with its this many heaviest items only; None for all of them.
    """

    def __init__(
        self,
        *,
        k: int = 50,
        content_weight: float = 0.6,
        item_knn: dict[str, Any] | None = None,
        min_support: float = 0.0,
        weighting: str = "binary",
        recency_half_life_days: float | None = None,
        max_history: int | None = DEFAULT_MAX_HISTORY,
    ) -> None:
        self.k = k
        self.content_weight = content_weight
        self.item_knn = item_knn
        self.min_support = min_support
        self.weighting = weighting
        self.recency_half_life_days = recency_half_life_days
        self.max_history = max_history

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        k = check_positive_int(self.k, "k")
        content_weight = check_non_negative(self.content_weight, "content_weight")
        if content_weight > 1:
            raise ValueError(f"content_weight must be between 0 and 1, got {content_weight!r}.")
        params = dict(self.item_knn or {})
        unknown = set(params) - set(ItemKNNRecommender._param_names())
        if unknown:
            raise ValueError(f"item_knn has no parameter(s) {', '.join(sorted(unknown))}.")
        params.setdefault("k", k)
        params.setdefault("min_support", self.min_support)
        behaviour = ItemKNNRecommender(**params).fit(interactions)
        self._fit_history(interactions, timestamps)
        mixed = (1.0 - content_weight) * row_max_scaled(behaviour.similarity_)
        if content_weight and item_features is not None and item_features.nnz:
            content = ContentRecommender(k=k, weighting=self.weighting).fit(
                interactions, item_features=item_features
            )
            mixed = mixed + content_weight * row_max_scaled(content.similarity_)
        mixed = sp.csr_matrix(mixed, dtype=np.float32)
        mixed.sum_duplicates()
        self.similarity_ = top_k_per_row(mixed, k)
