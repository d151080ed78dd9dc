"""Turn raw (user, item, weight, time) events into the matrices the recommenders fit on."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

SECONDS_PER_DAY = 86_400.0
WEIGHTINGS = ("raw", "binary", "log")


def _event_array(values: Any, *, name: str, dtype: Any) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got {array.ndim} dimension(s).")
    if dtype is np.int64 and array.size and not np.issubdtype(array.dtype, np.integer):
        # Whole floats (e.g. from a float column) are fine; 0.5 or "a" is not an index.
        whole = np.issubdtype(array.dtype, np.number) and np.all(array == np.round(array))
        if not whole:
            raise ValueError(f"{name} must hold integer indices.")
    return array.astype(dtype, copy=False)


def _check_indices(indices: np.ndarray, size: int, *, name: str) -> None:
    if indices.size and (indices.min() < 0 or indices.max() >= size):
        bad = indices[(indices < 0) | (indices >= size)][0]
        raise ValueError(f"{name} contains index {bad} outside 0 to {size - 1}.")


def build_interactions(
    user_idx: Any,
    item_idx: Any,
    weights: Any,
    *,
    n_users: int,
    n_items: int,
    times: Any = None,
    half_life_days: float | None = None,
    now: float | None = None,
) -> tuple[sp.csr_matrix, sp.csr_matrix | None]:
    """Sum one-row-per-event arrays into a users x items weight matrix.

    Parameters
    ----------
    user_idx, item_idx : array-like of int, shape (n_events,)
        Row and column index of each event.
    weights : array-like of float, shape (n_events,)
        Non-negative weight of each event (1 per purchase, a rating, ...).
    n_users, n_items : int
        Shape of the result; indices must be below these.
    times : array-like of float, shape (n_events,), optional
        Unix time (seconds) of each event.
    half_life_days : float, optional
        If given (requires ``times``), each event weight is multiplied by
        ``0.5 ** ((now - t) / (half_life_days * 86400))`` before duplicates are summed,
        so an event ``half_life_days`` old counts half.
    now : float, optional
        Reference unix time for the decay; defaults to the latest event. Events after
        it count fully.

    Returns
    -------
    weights : csr_matrix of float32, shape (n_users, n_items)
        Summed (decayed) weight of every (user, item) pair with a positive total.
    latest : csr_matrix of float64 or None
        Unix time of the latest event of every pair, same sparsity as ``weights``;
        ``None`` when ``times`` is not given.
    """
    for size, label in ((n_users, "n_users"), (n_items, "n_items")):
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 0:
            raise ValueError(f"{label} must be a non-negative integer, got {size!r}.")
    users = _event_array(user_idx, name="user_idx", dtype=np.int64)
    items = _event_array(item_idx, name="item_idx", dtype=np.int64)
    values = _event_array(weights, name="weights", dtype=np.float64)
    if not users.size == items.size == values.size:
        raise ValueError(
            "user_idx, item_idx and weights must have the same length, got "
            f"{users.size}, {items.size} and {values.size}."
        )
    _check_indices(users, n_users, name="user_idx")
    _check_indices(items, n_items, name="item_idx")
    if not np.all(np.isfinite(values)):
        raise ValueError("weights contains NaN or infinite values.")
    if values.size and values.min() < 0:
        raise ValueError("weights contains negative values.")
    stamps = None
    if times is not None:
        stamps = _event_array(times, name="times", dtype=np.float64)
        if stamps.size != users.size:
            raise ValueError(
                f"times has length {stamps.size}, expected {users.size} (one per event)."
            )
        if not np.all(np.isfinite(stamps)):
            raise ValueError("times contains NaN or infinite values.")
    if half_life_days is not None:
        if stamps is None:
            raise ValueError("half_life_days needs times.")
        if not np.isfinite(half_life_days) or half_life_days <= 0:
            raise ValueError(f"half_life_days must be positive, got {half_life_days!r}.")
        reference = (stamps.max() if stamps.size else 0.0) if now is None else float(now)
        # An event after ``now`` counts fully: it is not younger than new.
        age_days = np.maximum(reference - stamps, 0.0) / SECONDS_PER_DAY
        values = values * np.power(0.5, age_days / half_life_days)

    # One key per pair; sorting by (key, time) puts each pair's latest event last.
    keys = users * n_items + items
    order = np.lexsort((stamps, keys)) if stamps is not None else np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else keys
    sums = np.add.reduceat(values[order], starts) if keys.size else values
    unique = keys[starts]
    positive = sums > 0
    unique, sums = unique[positive], sums[positive]
    rows, cols = np.divmod(unique, max(n_items, 1))
    indptr = np.zeros(n_users + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_users), out=indptr[1:])
    shape = (n_users, n_items)
    matrix = sp.csr_matrix(
        (sums.astype(np.float32), cols.astype(np.int32), indptr.astype(np.int32)), shape=shape
    )
    if stamps is None:
        return matrix, None
    ends = np.r_[starts[1:], keys.size] - 1 if keys.size else starts
    latest = stamps[order][ends][positive]
    latest_matrix = sp.csr_matrix(
        (latest, cols.astype(np.int32), indptr.astype(np.int32)), shape=shape
    )
    return matrix, latest_matrix


def check_weighting(weighting: object) -> str:
    """``weighting`` if it is one of :data:`WEIGHTINGS`, else a ValueError naming them."""
    if weighting not in WEIGHTINGS:
        raise ValueError(f"weighting must be one of {', '.join(WEIGHTINGS)}; got {weighting!r}.")
    return weighting


def weight_values(values: np.ndarray, weighting: str) -> np.ndarray:
    """Rescale an array of positive weights: ``raw`` keeps, ``binary`` sets 1, ``log`` log1p."""
    check_weighting(weighting)
    if weighting == "binary":
        return np.ones_like(values)
    if weighting == "log":
        return np.log1p(values)
    return values


def apply_weighting(matrix: sp.csr_matrix, weighting: str) -> sp.csr_matrix:
    """Rescale the stored weights of a matrix with :func:`weight_values` (``raw`` is a no-op)."""
    values = weight_values(matrix.data, weighting)
    if values is matrix.data:
        return matrix
    result = matrix.copy()
    result.data = values
    return result
