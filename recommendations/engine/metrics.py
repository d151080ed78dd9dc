"""Offline ranking metrics and the evaluation loop of the benchmark protocol.

The ranked lists are 2-D arrays of item indices, one row per user, best first,
padded with -1; the relevant items are the rows of a CSR matrix (any positive value
counts as relevant). Metrics average over the rows that have at least one relevant item.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp

if TYPE_CHECKING:
    from recommendations.engine.base import Recommender


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    return int(k)


def _hits(recommended: Any, relevant: sp.csr_matrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Boolean hit matrix (rows with relevant items x k) and their relevant counts."""
    ranked = np.asarray(recommended, dtype=np.int64)
    if ranked.ndim != 2:
        raise ValueError(f"recommended must be 2-D (users x ranks), got {ranked.ndim}-D.")
    truth = sp.csr_matrix(relevant)
    if truth.shape[0] != ranked.shape[0]:
        raise ValueError(
            f"recommended has {ranked.shape[0]} rows but relevant has {truth.shape[0]}."
        )
    truth.eliminate_zeros()
    counts = np.diff(truth.indptr)
    rows = np.flatnonzero(counts > 0)
    if rows.size == 0:
        raise ValueError("relevant has no row with a relevant item.")
    ranked = ranked[rows, :k]
    hits = np.zeros(ranked.shape, dtype=bool)
    for position, row in enumerate(rows):
        items = ranked[position]
        hits[position] = np.isin(items, truth.indices[truth.indptr[row] : truth.indptr[row + 1]])
        hits[position] &= items >= 0
    return hits, counts[rows]


def recall_at_k(recommended: Any, relevant: sp.csr_matrix, k: int = 20) -> float:
    """Mean over users of hits in the top ``k`` / min(k, number of relevant items)."""
    k = _check_k(k)
    hits, counts = _hits(recommended, relevant, k)
    return float(np.mean(hits.sum(axis=1) / np.minimum(k, counts)))


def ndcg_at_k(recommended: Any, relevant: sp.csr_matrix, k: int = 20) -> float:
    """Mean NDCG@k with binary gains; the ideal DCG fills min(k, |relevant|) positions."""
    k = _check_k(k)
    hits, counts = _hits(recommended, relevant, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discounts[: hits.shape[1]]
    ideal = np.cumsum(discounts)[np.minimum(k, counts) - 1]
    return float(np.mean(dcg / ideal))


def coverage_at_k(recommended: Any, n_items: int, k: int = 20) -> float:
    """Share of the catalog that appears in at least one top-``k`` list."""
    k = _check_k(k)
    if isinstance(n_items, bool) or not isinstance(n_items, int | np.integer) or n_items < 1:
        raise ValueError(f"n_items must be a positive integer, got {n_items!r}.")
    ranked = np.asarray(recommended, dtype=np.int64)
    if ranked.ndim != 2:
        raise ValueError(f"recommended must be 2-D (users x ranks), got {ranked.ndim}-D.")
    items = np.unique(ranked[:, :k])
    return float(np.count_nonzero((items >= 0) & (items < n_items)) / n_items)


def evaluate(
    recommender: Recommender,
    train: sp.csr_matrix,
    test: sp.csr_matrix,
    k: int = 20,
    *,
    users: Any = None,
    batch_size: int = 1000,
) -> dict[str, float | int]:
    """Recall, NDCG and coverage at ``k`` of a recommender fitted on ``train``.

    Parameters
    ----------
    recommender : Recommender
        Already fitted on ``train``; items seen in training are excluded from its lists.
    train, test : csr_matrix of shape (n_users, n_items)
        ``test`` as returned by :func:`~recommendations.engine.split.holdout_new_items`.
    k : int
        Length of the ranked lists.
    users : array-like of int, optional
        Users to score; by default every user with a training event and a test item.
    batch_size : int
        Users ranked per call, to bound memory.

    Returns
    -------
    dict
        ``recall``, ``ndcg``, ``coverage`` (floats) and ``users`` (how many were scored).
    """
    k = _check_k(k)
    train_csr, test_csr = sp.csr_matrix(train), sp.csr_matrix(test)
    if train_csr.shape != test_csr.shape:
        raise ValueError(f"train has shape {train_csr.shape} but test has {test_csr.shape}.")
    fitted_shape = (getattr(recommender, "n_users_", None), getattr(recommender, "n_items_", None))
    if fitted_shape != train_csr.shape:
        raise ValueError(
            f"recommender was fitted on shape {fitted_shape}, not on train {train_csr.shape}."
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    if users is None:
        train_counts = np.diff(train_csr.indptr)
        test_counts = np.diff(test_csr.indptr)
        users = np.flatnonzero((train_counts > 0) & (test_counts > 0))
    users = np.asarray(users, dtype=np.int64).ravel()
    if users.size == 0:
        raise ValueError("No user to evaluate: no user has both train and test items.")
    lists = [
        recommender.recommend_batch(users[start : start + batch_size], k, exclude_seen=True)[0]
        for start in range(0, users.size, batch_size)
    ]
    ranked = np.vstack(lists)
    relevant = test_csr[users]
    return {
        "recall": recall_at_k(ranked, relevant, k),
        "ndcg": ndcg_at_k(recommended=ranked, relevant=relevant, k=k),
        "coverage": coverage_at_k(ranked, train_csr.shape[1], k),
        "users": int(np.count_nonzero(np.diff(relevant.indptr) > 0)),
    }
