"""A per-user gate of the social blend: how much weight each user's friends get.

The blend's segment weights (warm, cold, agreed) give every user of a segment the same
weight of the social votes. The gate instead predicts, from a few features of one user,
the NDCG gain of each candidate weight over the collaborative model alone, and gives
the user the weight with the best predicted gain. The predictions are a ridge
regression (one output per weight) fitted on validation users, whose gains are
measured on pairs held out of the training data.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommendations.engine.metrics import ndcg_per_user

#: The gate's features of a user, in column order (see :func:`gate_features`).
GATE_FEATURES = ("followed", "history", "cold", "agreement", "idle", "overlap", "voted")


#: :func:`top_rows` cuts rows into blocks of this many columns divided by ``k`` (8 to
#: 32): wide blocks for a short top (few maxima to sort), narrow ones for a long top
#: (few entries to rank).
TOP_BLOCK_SPAN = 1024


def top_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` best entries of each row, best first; of equal
    entries, the first columns.

    The row is cut into blocks (see :data:`TOP_BLOCK_SPAN`). Only the blocks that can
    hold one of the ``k`` are read again: those whose maximum beats the ``k``-th best
    block maximum, and the first ``k`` that equal it; and only their entries that reach
    it are sorted. A partition of whole rows costs several times as much, and far more
    on rows of many equal entries (a user with few scored items), which the validation
    folds rank by the thousand.
    """
    n_rows, n_columns = scores.shape
    k = min(k, n_columns)
    if k <= 0 or n_rows == 0:
        return np.zeros((n_rows, max(k, 0)), dtype=np.intp)
    span = int(np.clip(TOP_BLOCK_SPAN // k, 8, 32))
    if 2 * k * span >= n_columns:  # the blocks would hold most of the row
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]
    maxima = np.maximum.reduceat(scores, np.arange(0, n_columns, span), axis=1)
    if np.isnan(maxima).any():  # a NaN propagates to its block's maximum
        return np.argsort(-scores, axis=1, kind="stable")[:, :k]
    # At least k entries (one per block) reach the k-th best block maximum.
    floor = np.sort(maxima, axis=1)[:, maxima.shape[1] - k][:, None]
    at_floor = maxima == floor
    blocks = (maxima > floor) | (at_floor & (np.cumsum(at_floor, axis=1) <= k))
    rows, block = np.nonzero(blocks)
    columns = block[:, None] * span + np.arange(span)
    inside = columns < n_columns
    lowest = np.finfo(np.float64).min
    # -inf entries become the lowest float, so places past the last column (-inf)
    # rank below them.
    values = np.maximum(scores[rows[:, None], np.minimum(columns, n_columns - 1)], lowest)
    values = np.where(inside, values, -np.inf)
    values, columns = _row_matrix(rows, values, columns, n_rows)
    floor = np.maximum(floor, lowest)
    above, tied = values > floor, values == floor
    missing = k - np.count_nonzero(above, axis=1, keepdims=True)
    kept = above | (tied & (np.cumsum(tied, axis=1) <= missing))
    rows, places = np.nonzero(kept)
    # Columns ascend along each row, so the first of equal entries is the first column.
    return top_of_entries(rows, columns[rows, places], values[rows, places], n_rows, k)


def _row_matrix(
    rows: np.ndarray, values: np.ndarray, columns: np.ndarray, n_rows: int, places: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Entries ``(rows[i], values[i], columns[i])`` (``rows`` sorted; ``values`` and
    ``columns`` of one or more entries each) as two matrices of ``n_rows`` rows and at
    least ``places`` entries, each row's entries in order and -inf after them."""
    width = values.size // rows.size if rows.size else 1
    values = values.reshape(rows.size, width)
    columns = columns.reshape(rows.size, width)
    counts = np.bincount(rows, minlength=n_rows)
    place = np.arange(rows.size) - np.repeat(np.cumsum(counts) - counts, counts)
    spots = (place * width)[:, None] + np.arange(width)
    matrix = np.full((n_rows, int(counts.max(initial=places)) * width), -np.inf)
    where = np.zeros(matrix.shape, dtype=columns.dtype)
    matrix[rows[:, None], spots] = values
    where[rows[:, None], spots] = columns
    return matrix, where


def ranked_ndcg(scores: np.ndarray, relevant: sp.csr_matrix, k: int) -> np.ndarray:
    """NDCG@k of each row ranked by ``scores`` (its :func:`top_rows`) against the same
    row of ``relevant``."""
    return ndcg_per_user(top_rows(scores, k), relevant, k)


def top_of_entries(
    rows: np.ndarray, items: np.ndarray, values: np.ndarray, n_rows: int, k: int
) -> np.ndarray:
    """Each row's ``k`` best items among its entries, best first: (n_rows, k).

    The entries are ``(rows[i], items[i], values[i])``, ``rows`` sorted, at least ``k``
    per row: :func:`top_rows` of the rows with only these entries, for a fraction of
    the cost of ranking every item when a row has few.
    """
    if np.bincount(rows, minlength=n_rows).min(initial=k) < k:
        raise ValueError(f"top_of_entries needs at least k={k} entries in every row.")
    # As wide as the longest row: a row of many entries widens every row. Unused places
    # (-inf) rank below every entry, even one of -inf.
    padded, columns = _row_matrix(
        rows, np.maximum(values, np.finfo(np.float64).min), items, n_rows, places=k
    )
    return np.take_along_axis(columns, top_rows(padded, k), axis=1)


def gate_features(
    base: np.ndarray,
    votes: np.ndarray,
    *,
    followed: np.ndarray,
    history: np.ndarray,
    cold_items: int,
    agreed: np.ndarray,
    idle_days: np.ndarray,
    k: int,
    top: np.ndarray | None = None,
) -> np.ndarray:
    """Per-user features of the gate: (rows, len(GATE_FEATURES)) float64.

    ``base`` holds the collaborative scores with the users' own items at -inf;
    ``votes`` the social votes; ``followed`` how many people each user follows,
    ``history`` how many items they have (*cold*: at most ``cold_items``), ``agreed``
    their agreement with the voters and ``idle_days`` the days since their newest item.
    Counts enter as logarithms.
    *overlap* is the share of the collaborative top ``k`` that the voters have: where
    the two already agree, mixing them changes little.
    ``top``: :func:`top_rows` of ``base`` at ``k``, when already known.
    """
    open_votes = np.where(np.isfinite(base), votes, 0.0)
    voted = (open_votes > 0).sum(axis=1)
    top = top_rows(base, k) if top is None else top
    overlap = (np.take_along_axis(open_votes, top, axis=1) > 0).mean(axis=1)
    return np.column_stack(
        [
            np.log1p(np.asarray(followed, np.float64)),
            np.log1p(np.asarray(history, np.float64)),
            (np.asarray(history) <= cold_items).astype(np.float64),
            np.asarray(agreed, np.float64),
            np.log1p(np.clip(np.nan_to_num(np.asarray(idle_days, np.float64)), 0.0, None)),
            overlap,
            np.log1p(voted.astype(np.float64)),
        ]
    )


def fit_gate(features: np.ndarray, gains: np.ndarray, penalty: float) -> np.ndarray:
    """Ridge coefficients predicting each weight's gain: (n_features + 1, n_weights).

    ``gains`` is (users, n_weights): each user's NDCG of each weight (or its gain over
    the collaborative model alone: the choice is the same). The first row of the
    result is the intercept, then one row per feature, on the features as given; the
    fit standardises them, so ``penalty``, the ridge penalty per user, treats them
    alike whatever their units and weighs the same whatever the number of users.
    """
    features = np.asarray(features, np.float64)
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    design = np.column_stack([np.ones(len(features)), (features - mean) / scale])
    ridge = penalty * len(features) * np.eye(design.shape[1])
    ridge[0, 0] = 0.0  # the intercept is not shrunk: the mean gain stays as measured
    coef = np.linalg.solve(design.T @ design + ridge, design.T @ np.asarray(gains, np.float64))
    slopes = coef[1:] / scale[:, None]
    return np.vstack([coef[:1] - mean @ slopes, slopes])


def gate_choice(features: np.ndarray, gate: np.ndarray) -> np.ndarray:
    """Index of the weight with the best predicted gain for each row of ``features``."""
    return np.argmax(gate[0] + np.asarray(features, np.float64) @ gate[1:], axis=1)


def cross_fitted_choice(
    features: np.ndarray, gains: np.ndarray, groups: np.ndarray, penalty: float
) -> np.ndarray:
    """Each user's chosen weight by a gate fitted without the user's group.

    The gain these choices reach says how the gate does on users it has not seen;
    choices fitted on the same users would flatter it. One group: two halves by turn.
    """
    labels = np.unique(groups)
    if labels.size < 2:
        groups = np.arange(len(features)) % 2
        labels = np.unique(groups)
    chosen = np.zeros(len(features), dtype=np.int64)
    for label in labels:
        held = groups == label
        if held.all():
            continue
        gate = fit_gate(features[~held], gains[~held], penalty)
        chosen[held] = gate_choice(features[held], gate)
    return chosen
