"""Item-based nearest neighbours: users get items similar to the ones they have."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommendations.engine.base import Recommender, csr_rows
from recommendations.engine.cache import cached_fit
from recommendations.engine.interactions import apply_weighting, weight_values

# Products are computed in blocks of rows so that a block holds at most this many
# dense cells: memory stays bounded on catalogs of tens of thousands of items.
BLOCK_CELLS = 16_000_000
SECONDS_PER_DAY = 86_400.0
#: Items of a history a model scores with (see HistoryRecommender): the app's own
#: history window holds 200 events of each source too.
DEFAULT_MAX_HISTORY = 200


def top_k_dense(block: np.ndarray, k: int) -> sp.csr_matrix:
    """The ``k`` largest positive entries of each row of a dense block, as CSR."""
    n_rows, n_cols = block.shape
    if k < n_cols:
        columns = np.argpartition(-block, k - 1, axis=1)[:, :k]
    else:
        columns = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols))
    values = np.take_along_axis(block, columns, axis=1)
    rows = np.broadcast_to(np.arange(n_rows)[:, None], columns.shape)
    keep = values > 0
    result = sp.csr_matrix(
        (values[keep], (rows[keep], columns[keep])), shape=block.shape, dtype=block.dtype
    )
    result.sort_indices()
    return result


def top_k_per_row(
    matrix: sp.csr_matrix, k: int, *, tiebreak: np.ndarray | None = None
) -> sp.csr_matrix:
    """The ``k`` largest positive entries of each row of a CSR matrix.

    Ties go to the lower column; given ``tiebreak`` (one value per stored entry, like
    ``matrix.data``), to the higher ``tiebreak`` value, then to the higher column.
    ``matrix`` must have no duplicate entries, as a sparse product never has.
    """
    data, indices, indptr = matrix.data, matrix.indices, matrix.indptr
    keep = data > 0
    # Positive entries per row, summed in place (a running total of every entry would
    # write eight bytes per entry): only non-empty rows, whose starts strictly increase.
    lengths = np.diff(indptr)
    counts = np.zeros(matrix.shape[0], dtype=np.int64)
    filled = lengths > 0
    if filled.any():
        counts[filled] = np.add.reduceat(keep, indptr[:-1][filled], dtype=np.int64)
    # Only rows with more than k entries need a selection; a loop over them is cheap
    # next to sorting every entry, and partition is linear in the row length.
    for row in np.flatnonzero(counts > k):
        start, stop = indptr[row], indptr[row + 1]
        values = np.where(keep[start:stop], data[start:stop], -np.inf)
        kth = -np.partition(-values, k - 1)[k - 1]
        chosen = values > kth
        ties = np.flatnonzero(values == kth)
        if tiebreak is None:
            ties = ties[np.argsort(indices[start:stop][ties], kind="stable")]
        else:
            columns = indices[start:stop][ties]
            ties = ties[np.lexsort((-columns.astype(np.int64), -tiebreak[start:stop][ties]))]
        chosen[ties[: k - np.count_nonzero(chosen)]] = True
        keep[start:stop] = chosen
    new_indptr = np.zeros(matrix.shape[0] + 1, dtype=np.int64)
    np.cumsum(np.minimum(counts, k), out=new_indptr[1:])
    result = sp.csr_matrix((data[keep], indices[keep], new_indptr), shape=matrix.shape)
    result.sort_indices()
    return result


def row_product(
    indices: np.ndarray,
    weights: np.ndarray,
    matrix: sp.csr_matrix,
    transposed: sp.csr_matrix | None = None,
) -> np.ndarray:
    """``weights @ matrix[indices]`` as a dense float32 vector: one sparse row times CSR.

    Gathers the stored entries of the chosen rows and sums them per column; for a
    single history this costs a fraction of a scipy sparse product and its objects.
    Given ``transposed`` (``matrix.T`` as CSR), rows holding more than an eighth of
    the matrix are summed by one product of it with a dense vector instead, which
    costs the same whatever the rows (gathering costs about 8x more per entry).
    """
    indptr = matrix.indptr
    starts = indptr[indices]
    lengths = indptr[indices + 1] - starts
    if transposed is not None and 8 * int(lengths.sum()) > matrix.nnz:
        dense = np.zeros(matrix.shape[0], dtype=np.float32)
        dense[indices] = weights
        return np.asarray(transposed @ dense, dtype=np.float32)
    # Position of every stored entry of the chosen rows: a run of each row's range.
    before = np.cumsum(lengths) - lengths
    positions = np.arange(before[-1] + lengths[-1] if lengths.size else 0)
    positions += np.repeat(starts - before, lengths)
    values = matrix.data[positions] * np.repeat(weights, lengths)
    summed = np.bincount(matrix.indices[positions], weights=values, minlength=matrix.shape[1])
    return summed.astype(np.float32)


def check_positive_int(value: object, name: str) -> int:
    """``value`` as an int, or a ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def check_non_negative(value: object, name: str) -> float:
    """``value`` as a finite float >= 0, or a ValueError naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ValueError(f"{name} must be a number, got {value!r}.")
    if not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}.")
    return float(value)


class HistoryRecommender(Recommender):
    """Base of the models that score a user as ``history_row @ item_weights``.

    Subclasses implement ``_score_weighted(rows)`` for rows already transformed by their
    ``weighting``. With ``recency_half_life_days`` set, known users score with a
    time-decayed history: each weight is multiplied by ``0.5 ** (age / half_life)``,
    the age measured from the user's own latest event, so recent purchases count more
    while the item weights are still learned from every event; without ``timestamps``
    at fit nothing is decayed. Ad-hoc rows (``recommend_interactions``) are scored as
    given: the caller decays those.

    With ``max_history`` set, a history scores with its ``max_history`` heaviest items
    only (after weighting and decay: the most recent). Among equal weights (no decay,
    or items bought at the same time) the most recent pairs are kept when
    ``timestamps`` were given at fit, then the higher item index: the caller's index
    of the newest products when items are indexed by an increasing key, as the app's
    are (by primary key). It
    bounds the cost of a call for the heaviest buyers, and their oldest items say
    little (a cap of 200 changed NDCG@20 by less than 0.001 on validation folds of
    Online Retail, ``benchmarks/README.md``). Explanations still weigh every item.
    """

    weighting: str
    recency_half_life_days: float | None
    max_history: int | None

    def _fit_history(self, interactions: sp.csr_matrix, timestamps: sp.csr_matrix | None) -> None:
        """Check ``max_history``; keep the latest time of every pair for recency weighting.

        Without decay, ``timestamps_`` keeps only the times of the histories longer than
        ``max_history``, to break the cap's ties (None when there are none).
        """
        if self.max_history is not None:
            check_positive_int(self.max_history, "max_history")
        self.timestamps_ = None
        if self.recency_half_life_days is None:
            # No decay: the times only break ties of the cap (user-indexed state, so it
            # lives in ``timestamps_``, which forgetting a user trims like the rest).
            self.timestamps_ = self._tiebreak_times(interactions, timestamps)
            return
        half_life = check_non_negative(self.recency_half_life_days, "recency_half_life_days")
        if half_life == 0:
            raise ValueError("recency_half_life_days must be positive (or None for no decay).")
        if timestamps is None:
            # Like trending without times: nothing to decay by, every event counts fully.
            return
        rows, columns = interactions.nonzero()
        times = np.asarray(timestamps[rows, columns], dtype=np.float64).ravel()
        if not np.all(np.isfinite(times)) or np.any(times == 0):
            raise ValueError("timestamps must hold a finite time for every interaction pair.")
        self.timestamps_ = sp.csr_matrix(
            (times, interactions.indices.copy(), interactions.indptr.copy()),
            shape=interactions.shape,
        )

    def _tiebreak_times(
        self, interactions: sp.csr_matrix, timestamps: sp.csr_matrix | None
    ) -> sp.csr_matrix | None:
        """Latest time of the pairs of the histories longer than ``max_history``, or None.

        Without decay the cap keeps the most recent of equally weighted pairs by these;
        only the long histories are kept, so it costs little memory.
        """
        if timestamps is None or self.max_history is None:
            return None
        lengths = np.diff(interactions.indptr)
        if lengths.size == 0 or lengths.max() <= self.max_history:
            return None
        rows, columns = interactions.nonzero()
        times = np.asarray(timestamps[rows, columns], dtype=np.float64).ravel()
        long = np.repeat(lengths > self.max_history, lengths)
        times[~long] = 0.0
        result = sp.csr_matrix(
            (times, interactions.indices.copy(), interactions.indptr.copy()),
            shape=interactions.shape,
        )
        result.eliminate_zeros()
        return result

    def _history(self, user_ids: np.ndarray) -> sp.csr_matrix:
        """Weighted (and, with recency, time-decayed) training rows of known users."""
        return csr_rows(self._weighted_history(), user_ids)

    def _weighted_history(self) -> sp.csr_matrix:
        """Every training row weighted and decayed once, not at each request.

        Derived, never saved: kept with the matrices it came from, so replacing them
        (loading, or forgetting a user) recomputes it.
        """
        timestamps = getattr(self, "timestamps_", None)
        cached = self.__dict__.get("_weighted_history_cache")
        if cached is not None and cached[0] is self.interactions_ and cached[1] is timestamps:
            return cached[2]
        rows = apply_weighting(self.interactions_, self.weighting)
        if timestamps is not None and self.recency_half_life_days is not None:
            lengths = np.diff(timestamps.indptr)
            latest = np.zeros(lengths.size)
            filled = lengths > 0
            latest[filled] = np.maximum.reduceat(timestamps.data, timestamps.indptr[:-1][filled])
            age_days = (np.repeat(latest, lengths) - timestamps.data) / SECONDS_PER_DAY
            decay = np.power(0.5, age_days / float(self.recency_half_life_days))
            rows = rows.copy()
            rows.data = (rows.data * decay).astype(np.float32)
        rows = self._capped(sp.csr_matrix(rows, dtype=np.float32), timestamps)
        self._weighted_history_cache = (self.interactions_, timestamps, rows)
        return rows

    def _score_weighted(self, rows: sp.csr_matrix) -> np.ndarray:
        """Scores of every item for weighted history rows: (n_rows, n_items) float32."""
        raise NotImplementedError

    def _score_history(self, indices: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Scores of every item for one weighted history given by its arrays: (n_items,).

        Serving scores one history per call: models whose product needs no sparse
        matrix override this and skip building one.
        """
        row = sp.csr_matrix((values, indices, [0, indices.size]), shape=(1, self.n_items_))
        return self._score_weighted(row)[0]

    def _capped(self, rows: sp.csr_matrix, times: sp.csr_matrix | None = None) -> sp.csr_matrix:
        """``rows`` with at most ``max_history`` entries each, the heaviest.

        Ties go to the later time in ``times`` (the same rows, pairs without a time
        count as oldest), then to the higher item index.
        """
        limit = self.max_history
        if limit is None or rows.nnz <= limit or np.diff(rows.indptr).max() <= limit:
            return rows
        tiebreak = np.zeros(rows.nnz)
        if times is not None:
            # Aligned entry by entry: both are sorted CSR rows of the same pairs or fewer.
            found = sp.csr_matrix(times, copy=False)
            rows_of = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
            tiebreak = np.asarray(found[rows_of, rows.indices], dtype=np.float64).ravel()
        return top_k_per_row(rows, int(limit), tiebreak=tiebreak)

    def _score_rows(self, rows: sp.csr_matrix, user_features) -> np.ndarray:
        rows = self._capped(rows)
        if rows.shape[0] == 1:
            values = weight_values(rows.data, self.weighting)
            return self._score_history(rows.indices, values)[None, :]
        return self._score_weighted(apply_weighting(rows, self.weighting))

    def _score_users(self, user_ids: np.ndarray) -> np.ndarray:
        history = self._weighted_history()
        if len(user_ids) == 1:
            start, end = history.indptr[user_ids[0]], history.indptr[user_ids[0] + 1]
            return self._score_history(history.indices[start:end], history.data[start:end])[None]
        return self._score_weighted(self._history(user_ids))


class SimilarityRecommender(HistoryRecommender):
    """Base of the models that score a history with a sparse item x item ``similarity_``.

    Subclasses learn ``similarity_`` (CSR, float32) in ``_fit``; scoring, similar items
    and explanations are shared.
    """

    similarity_: sp.csr_matrix

    def _score_weighted(self, rows: sp.csr_matrix) -> np.ndarray:
        return np.asarray((rows @ self.similarity_).toarray(), dtype=np.float32)

    def _score_history(self, indices: np.ndarray, values: np.ndarray) -> np.ndarray:
        return row_product(indices, values, self.similarity_)

    def _item_similarities(self, item_id: int) -> np.ndarray:
        return self.similarity_[item_id].toarray().ravel()

    def _contributions_batch(self, row: sp.csr_matrix, item_ids: np.ndarray) -> np.ndarray:
        # The history's rows of the similarity, then the listed columns: one slice each.
        block = self.similarity_[row.indices][:, item_ids].toarray()
        return weight_values(row.data, self.weighting)[None, :] * block.T


def item_similarity(
    interactions: sp.csr_matrix,
    k: int,
    shrinkage: float,
    alpha: float,
    exponent: float,
    user_exponent: float,
    weighting: str,
    min_support: float,
) -> sp.csr_matrix:
    """The top-``k`` item-to-item similarities of :class:`ItemKNNRecommender` (see there)."""
    weighted = apply_weighting(interactions, weighting)
    # Distinct users per pair, counted before any weighting (a pair's count cannot
    # be read back from the weighted products).
    present = sp.csr_matrix(interactions > 0, dtype=np.float32) if min_support > 1 else None
    present_by_item = None if present is None else present.T.tocsr()
    if user_exponent:
        # Someone who bought hundreds of items says little about any one pair of them.
        degree = np.maximum(np.diff(weighted.indptr), 1).astype(np.float32)
        weighted = sp.csr_matrix(sp.diags(degree**-user_exponent) @ weighted)
    by_item = weighted.T.tocsr()
    norms = np.asarray(weighted.multiply(weighted).sum(axis=0), dtype=np.float64).ravel()
    source_norm = np.power(norms, alpha).astype(np.float32)
    target_norm = np.power(norms, 1.0 - alpha).astype(np.float32)
    n_items = weighted.shape[1]
    block = max(1, BLOCK_CELLS // max(n_items, 1))
    blocks: list[sp.csr_matrix] = []
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        counts = sp.csr_matrix(by_item[start:stop] @ weighted, dtype=np.float32)
        if present is not None:
            support = sp.csr_matrix(present_by_item[start:stop] @ present)
            support.data = (support.data >= min_support).astype(np.float32)
            counts = sp.csr_matrix(counts.multiply(support), dtype=np.float32)
            counts.eliminate_zeros()
            counts.sort_indices()
        rows = np.repeat(np.arange(start, stop), np.diff(counts.indptr))
        columns = counts.indices
        denominator = source_norm[rows] * target_norm[columns] + shrinkage
        data = np.divide(
            counts.data, denominator, out=np.zeros_like(counts.data), where=denominator > 0
        )
        data[rows == columns] = 0.0
        if exponent != 1.0:
            np.power(data, exponent, out=data)
        counts.data = data
        blocks.append(top_k_per_row(counts, k))
    return sp.csr_matrix(sp.vstack(blocks, format="csr"), dtype=np.float32)


class ItemKNNRecommender(SimilarityRecommender, name="item_knn"):
    """Score items by their similarity to the items in the user's history.

    The similarity of item ``i`` to item ``j`` is an asymmetric cosine with shrinkage,
    ``c_ij / (n_i ** alpha * n_j ** (1 - alpha) + shrinkage)``, where ``c_ij`` is the
    dot product of the two weighted item columns and ``n`` their squared norms, raised
    to ``exponent``; each item keeps its ``k`` most similar neighbours.

    Parameters
    ----------
    k : int
        Neighbours kept per item.
    shrinkage : float
        Added to the denominator, so pairs seen together by few users count less.
    alpha : float
        0.5 is the cosine; higher values penalise popular source items more.
    exponent : float
        Similarities are raised to this power; above 1 favours the closest neighbours.
    user_exponent : float
        Each user's row is divided by (number of items) ** user_exponent before the
        similarities are computed, so heavy buyers weigh less.
    weighting : {"raw", "binary", "log"}
        Transform applied to the weights before anything else.
    recency_half_life_days : float, optional
        Score known users with their history decayed by this half-life (needs
        ``timestamps`` at fit); see :class:`HistoryRecommender`.
    max_history : int, optional
        Score a history with its this many heaviest (most recent) items only; None
        for all of them. See :class:`HistoryRecommender`.
    min_support : float
        Pairs that fewer than this many distinct users have together get no
        similarity: a handful of accounts cannot link two items. 0 keeps every pair.
    """

    def __init__(
        self,
        *,
        k: int = 20,
        shrinkage: float = 1.0,
        alpha: float = 0.5,
        exponent: float = 1.5,
        user_exponent: float = 0.5,
        weighting: str = "binary",
        recency_half_life_days: float | None = None,
        max_history: int | None = DEFAULT_MAX_HISTORY,
        min_support: float = 0.0,
    ) -> None:
        self.k = k
        self.shrinkage = shrinkage
        self.alpha = alpha
        self.exponent = exponent
        self.user_exponent = user_exponent
        self.weighting = weighting
        self.recency_half_life_days = recency_half_life_days
        self.max_history = max_history
        self.min_support = min_support

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        k = check_positive_int(self.k, "k")
        shrinkage = check_non_negative(self.shrinkage, "shrinkage")
        alpha = check_non_negative(self.alpha, "alpha")
        exponent = check_non_negative(self.exponent, "exponent")
        if alpha > 1:
            raise ValueError(f"alpha must be between 0 and 1, got {alpha!r}.")
        user_exponent = check_non_negative(self.user_exponent, "user_exponent")
        min_support = check_non_negative(self.min_support, "min_support")
        self._fit_history(interactions, timestamps)
        params = (k, shrinkage, alpha, exponent, user_exponent, self.weighting, min_support)
        # The similarities depend on the events and these parameters only: a blend's
        # item-kNN and a standalone one (another history setting) share one computation.
        self.similarity_ = cached_fit(
            "item_knn", interactions, params, lambda: item_similarity(interactions, *params)
        )
