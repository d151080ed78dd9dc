"""Train/test splits for offline evaluation: by time, then keeping only new items."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommendations.engine.interactions import SECONDS_PER_DAY


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


def window_end(
    user_idx: Any,
    times: Any,
    *,
    days: float,
    min_users: int,
    first_seen: Any = None,
    before: float | None = None,
) -> float | None:
    """The latest event time ``T`` whose window ``[T - days, T]`` holds ``min_users`` users.

    A gap between the data and today (an old import followed by a trickle of new
    events) would leave a window ending at the newest event almost empty; this places
    it where the data is. The candidates are the latest event of every day, counted
    back from the newest event, newest first.

    Parameters
    ----------
    user_idx, times : array-like, shape (n_events,)
        The user index and unix time of each event that may fall in the window.
    days : float
        Length of the window.
    min_users : int
        Distinct users the window should hold.
    first_seen : array-like of float, optional
        Earliest event time of every user (indexed by ``user_idx``): a user counts only
        when first seen before the window, so has a history to learn from.
    before : float, optional
        Only events strictly before this time are candidates and counted.

    Returns
    -------
    float or None
        ``T``; when no window holds ``min_users`` users, the latest ``T`` of the window
        with the most; None when there is no event (or no user counts in any window).
    """
    users = np.asarray(user_idx, dtype=np.int64).ravel()
    stamps = np.asarray(times, dtype=np.float64).ravel()
    if users.size != stamps.size:
        raise ValueError("user_idx and times must have the same length.")
    if before is not None:
        keep = stamps < before
        users, stamps = users[keep], stamps[keep]
    if stamps.size == 0:
        return None
    order = np.argsort(stamps, kind="stable")
    users, stamps = users[order], stamps[order]
    seen = None if first_seen is None else np.asarray(first_seen, dtype=np.float64)
    width = float(days) * SECONDS_PER_DAY
    # The latest event of each day, days counted back from the newest event.
    day = np.floor((stamps[-1] - stamps) / SECONDS_PER_DAY)
    last_of_day = np.flatnonzero(np.r_[day[1:] != day[:-1], True])[::-1]
    best, best_count = None, 0
    for end in last_of_day:
        high = stamps[end]
        start = int(np.searchsorted(stamps, high - width, side="left"))
        inside = np.unique(users[start : end + 1])
        if seen is not None:
            inside = inside[seen[inside] < high - width]
        if inside.size >= min_users:
            return float(high)
        if inside.size > best_count:
            best, best_count = float(high), int(inside.size)
    return best
