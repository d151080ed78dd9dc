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
    # One sparse lookup for every (row, rank) instead of a set test per row.
    flags = sp.csr_matrix(
        (np.ones(truth.nnz, dtype=np.int8), truth.indices, truth.indptr), shape=truth.shape
    )[rows]
    valid = (ranked >= 0) & (ranked < truth.shape[1])
    positions = np.repeat(np.arange(rows.size), ranked.shape[1])
    found = np.asarray(flags[positions, np.where(valid, ranked, 0).ravel()]).reshape(ranked.shape)
    return (found != 0) & valid, counts[rows]


def recall_per_user(recommended: Any, relevant: sp.csr_matrix, k: int = 20) -> np.ndarray:
    """Hits in the top ``k`` / min(k, number of relevant items) of every row with one."""
    k = _check_k(k)
    hits, counts = _hits(recommended, relevant, k)
    return hits.sum(axis=1) / np.minimum(k, counts)


def recall_at_k(recommended: Any, relevant: sp.csr_matrix, k: int = 20) -> float:
    """Mean over users of hits in the top ``k`` / min(k, number of relevant items)."""
    return float(np.mean(recall_per_user(recommended, relevant, k)))


def ndcg_per_user(recommended: Any, relevant: sp.csr_matrix, k: int = 20) -> np.ndarray:
    """NDCG@k with binary gains of every row with a relevant item."""
    k = _check_k(k)
    hits, counts = _hits(recommended, relevant, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = hits @ discounts[: hits.shape[1]]
    ideal = np.cumsum(discounts)[np.minimum(k, counts) - 1]
    return dcg / ideal


def ndcg_at_k(recommended: Any, relevant: sp.csr_matrix, k: int = 20) -> float:
    """Mean NDCG@k with binary gains; the ideal DCG fills min(k, |relevant|) positions."""
    return float(np.mean(ndcg_per_user(recommended, relevant, k)))


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


def evaluate_per_user(
    recommender: Recommender,
    train: sp.csr_matrix,
    test: sp.csr_matrix,
    k: int = 20,
    *,
    users: Any = None,
    batch_size: int = 1000,
) -> dict[str, Any]:
    """Per-user recall and NDCG at ``k`` of a recommender fitted on ``train``, and coverage.

    Parameters are those of :func:`evaluate`.

    Returns
    -------
    dict
        ``users`` (ndarray of the scored user indices, those with a test item, in the
        order given), ``recall`` and ``ndcg`` (ndarrays of float64 aligned with
        ``users``) and ``coverage`` (float).
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
        "users": users[np.diff(relevant.indptr) > 0],
        "recall": recall_per_user(ranked, relevant, k),
        "ndcg": ndcg_per_user(ranked, relevant, k),
        "coverage": coverage_at_k(ranked, train_csr.shape[1], k),
    }


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
    scores = evaluate_per_user(recommender, train, test, k, users=users, batch_size=batch_size)
    return mean_metrics(scores)


def mean_metrics(scores: dict[str, Any]) -> dict[str, float | int]:
    """The averages of :func:`evaluate_per_user`'s result, as :func:`evaluate` returns them."""
    return {
        "recall": float(np.mean(scores["recall"])),
        "ndcg": float(np.mean(scores["ndcg"])),
        "coverage": float(scores["coverage"]),
        "users": int(np.asarray(scores["users"]).size),
    }


# Resampled user indices held at once: bounds the memory of a bootstrap on many users.
BOOTSTRAP_CELLS = 4_000_000


def paired_bootstrap(
    new: Any,
    old: Any,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    random_state: int = 0,
) -> tuple[float, float, float]:
    """Mean of ``new - old`` over paired per-user values and its bootstrap interval.

    Parameters
    ----------
    new, old : array-like of float, shape (n_users,)
        One value per user of two recommenders on the same users, in the same order.
    n_resamples : int
        Bootstrap resamples of the users (drawn with replacement).
    confidence : float
        Coverage of the two-sided percentile interval, in (0, 1).
    random_state : int
        Seed of the resampling: the same inputs give the same interval.

    Returns
    -------
    mean, low, high : float
        The observed mean difference and the bounds of its percentile interval.
    """
    a = np.asarray(new, dtype=np.float64).ravel()
    b = np.asarray(old, dtype=np.float64).ravel()
    if a.size != b.size:
        raise ValueError(f"new has {a.size} values but old has {b.size}: they must be paired.")
    if a.size == 0:
        raise ValueError("No paired values to compare.")
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError("new and old must hold finite values.")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, int) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}.")
    difference = a - b
    rng = np.random.default_rng(random_state)
    chunk = max(1, BOOTSTRAP_CELLS // difference.size)
    means = np.concatenate(
        [
            difference[
                rng.integers(
                    0, difference.size, size=(min(chunk, n_resamples - done), difference.size)
                )
            ].mean(axis=1)
            for done in range(0, n_resamples, chunk)
        ]
    )
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(difference.mean()), float(low), float(high)
