"""Train/test splits for offline evaluation: by time, then keeping only new items."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import scipy.sparse as sp


def _as_unix(cutoff: Any) -> float:
    if isinstance(cutoff, dt.datetime):
        if cutoff.tzinfo is None:
            cutoff = cutoff.replace(tzinfo=dt.UTC)
        return cutoff.timestamp()
    if isinstance(cutoff, dt.date):
        return dt.datetime(cutoff.year, cutoff.month, cutoff.day, tzinfo=dt.UTC).timestamp()
    value = float(cutoff)
    if not np.isfinite(value):
        raise ValueError(f"cutoff must be a finite time, got {cutoff!r}.")
    return value


def temporal_split(
    user_idx: Any, item_idx: Any, times: Any, *, cutoff: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Masks of the events before ``cutoff`` (train) and at or after it (test).

    Parameters
    ----------
    user_idx, item_idx, times : array-like, shape (n_events,)
        One entry per event; ``times`` in unix seconds.
    cutoff : float, datetime or date
        Unix seconds, or a datetime (naive means UTC) or date (midnight UTC).

    Returns
    -------
    train_mask, test_mask : ndarray of bool, shape (n_events,)
    """
    stamps = np.asarray(times, dtype=np.float64).ravel()
    lengths = {np.asarray(user_idx).size, np.asarray(item_idx).size, stamps.size}
    if len(lengths) != 1:
        raise ValueError("user_idx, item_idx and times must have the same length.")
    if not np.all(np.isfinite(stamps)):
        raise ValueError("times contains NaN or infinite values.")
    train = stamps < _as_unix(cutoff)
    return train, ~train


def holdout_new_items(train: sp.csr_matrix, test: sp.csr_matrix) -> sp.csr_matrix:
    """The test pairs worth scoring: items the user did not have in train, users known in train.

    Returns a copy of ``test`` without the (user, item) pairs present in ``train`` and
    with the rows of users who have no training event emptied; users left with no test
    item have an empty row and are not scored by :func:`~recommendations.engine.metrics.evaluate`.
    """
    if train.shape != test.shape:
        raise ValueError(f"train has shape {train.shape} but test has shape {test.shape}.")
    seen = sp.csr_matrix(train, copy=True)
    seen.eliminate_zeros()
    kept = sp.coo_matrix(test, dtype=np.float32)
    kept.sum_duplicates()
    rows, cols = kept.row, kept.col
    in_train = np.asarray(seen[rows, cols]).ravel() != 0 if rows.size else np.zeros(0, bool)
    known_user = np.diff(seen.indptr) > 0
    keep = (kept.data != 0) & ~in_train & known_user[rows]
    result = sp.csr_matrix((kept.data[keep], (rows[keep], cols[keep])), shape=test.shape)
    result.sort_indices()
    return result
