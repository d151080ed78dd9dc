"""EASE: a closed-form linear item-to-item model (Steck, 2019)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg
import scipy.sparse as sp
from scipy.linalg import lapack

from recommendations.engine.cache import cached_fit
from recommendations.engine.interactions import apply_weighting, weight_values
from recommendations.engine.itemknn import (
    DEFAULT_MAX_HISTORY,
    HistoryRecommender,
    check_non_negative,
    check_positive_int,
)

# Small catalogs are solved in float64 (cheap, most precise); above this many items
# float32 halves memory and time, with identical rankings on the benchmark.
FLOAT64_MAX_ITEMS = 2_000
# The same for the users' kernel that KernelWeights inverts.
FLOAT64_MAX_USERS = 2_000
# Rows of the Gram matrix built per sparse product: bounds the product's temporaries.
GRAM_BLOCK_CELLS = 16_000_000
# The factored Woodbury path holds two dense float64 users x items matrices: at most
# this many cells each (320 MB); beyond it only the users' kernel is kept (KernelWeights).
LOW_RANK_MAX_CELLS = 40_000_000
# Rows of the weights filled per step when only some items were bought, and formed
# per sparse product of KernelWeights.dense.
FILL_BLOCK = 1_024
# Blocks of at most this side are inverted by LAPACK, larger ones split in two.
SPD_LEAF = 512
# Threads of the sparse products that form KernelWeights' dense weights.
PRODUCT_THREADS = 2


class CatalogTooLargeError(ValueError):
    """EASE refused a catalog above ``max_items``: drop it, or use item_knn or svd.

    A ``ValueError``, so callers that catch bad input keep working; catch this one to
    go on without EASE (the blend leaves such a component out by itself).
    """


def _gram(weighted: sp.csr_matrix, dtype: type) -> np.ndarray:
    """``X^T X`` as a dense C-ordered matrix, built in blocks of item rows."""
    n_items = weighted.shape[1]
    by_item = weighted.T.tocsr()
    gram = np.empty((n_items, n_items), dtype=dtype)
    block = max(1, GRAM_BLOCK_CELLS // max(n_items, 1))
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        gram[start:stop] = (by_item[start:stop] @ weighted).toarray()
    return gram


def _invert_leaf(block: np.ndarray) -> None:
    """Invert a small symmetric positive definite block in place (LAPACK potrf, potri)."""
    factor, invert = lapack.get_lapack_funcs(("potrf", "potri"), (block,))
    fortran = np.array(block, order="F")
    cholesky, info = factor(fortran, lower=1, clean=0, overwrite_a=1)
    if info != 0:
        raise ValueError(f"EASE could not factor the Gram matrix (LAPACK info {info}).")
    inverse, info = invert(cholesky, lower=1, overwrite_c=1)
    if info != 0:
        raise ValueError(f"EASE could not invert the Gram matrix (LAPACK info {info}).")
    lower = np.tril(inverse)
    block[...] = lower + np.tril(lower, -1).T


def spd_inverse(matrix: np.ndarray) -> None:
    """Invert a symmetric positive definite matrix in place, by blocks.

    With ``A = [[A11, A12], [A21, A22]]``: invert ``A11``, then the Schur complement
    ``S = A22 - A21 A11^-1 A12``; the inverse is ``[[A11^-1 + T S^-1 T^T, -T S^-1],
    [-S^-1 T^T, S^-1]]`` with ``T = A11^-1 A12``. Nearly all the work is four matrix
    products per level, which BLAS runs several times faster than LAPACK's triangular
    routines (1.6x less time than ``potrf`` + ``potri`` at 4,000 and 8,000 items on 2
    cores); S stays positive definite, so no pivoting is needed.
    """
    size = matrix.shape[0]
    if size <= SPD_LEAF:
        _invert_leaf(matrix)
        return
    half = size // 2
    top, right = matrix[:half, :half], matrix[:half, half:]
    left, bottom = matrix[half:, :half], matrix[half:, half:]
    spd_inverse(top)
    product = top @ right
    bottom -= left @ product
    spd_inverse(bottom)
    corner = product @ bottom
    corner *= -1.0
    top -= corner @ product.T
    right[...] = corner
    left[...] = corner.T


def direct_weights(weighted: sp.csr_matrix, l2: float) -> np.ndarray:
    """EASE weights from the inverse of ``X^T X + l2 I``, computed in place by blocks."""
    n_items = weighted.shape[1]
    dtype = np.float64 if n_items <= FLOAT64_MAX_ITEMS else np.float32
    precision = _gram(weighted, dtype)
    precision[np.diag_indices(n_items)] += l2
    spd_inverse(precision)
    precision /= -np.diag(precision).copy()[None, :]
    precision[np.diag_indices(n_items)] = 0.0
    return precision


@dataclass(frozen=True)
class LowRankWeights:
    """EASE weights of the bought items kept as the Woodbury factors, not multiplied out.

    ``B[active][:, active] = (left @ right) / denominator`` off the diagonal, 0 on it;
    every other row and column is 0. Scoring a few users from the factors costs a
    fraction of forming ``B`` (items x users x items): validation and holdout fits,
    which only score, never form it.
    """

    n_items: int
    active: np.ndarray  # the items in the solve, sorted
    left: np.ndarray  # (active, users)
    right: np.ndarray  # (users, active), already divided by the denominators
    diagonal: np.ndarray  # (active,): the diagonal of left @ right, to take back out

    def scores(self, rows: sp.csr_matrix) -> np.ndarray:
        """``rows @ B`` for weighted rows over the whole catalog: (n_rows, n_items)."""
        compact = sp.csr_matrix(rows)[:, self.active]
        product = np.asarray(compact @ self.left, dtype=self.left.dtype) @ self.right
        product -= compact.multiply(self.diagonal[None, :]).toarray()
        if self.active.size == self.n_items:
            return np.asarray(product, dtype=np.float32)
        result = np.zeros((rows.shape[0], self.n_items), dtype=np.float32)
        result[:, self.active] = product
        return result

    @property
    def nbytes(self) -> int:
        """Memory held by the factors (what a fit cache counts)."""
        return int(sum(a.nbytes for a in (self.active, self.left, self.right, self.diagonal)))

    def dense(self) -> np.ndarray:
        """``B`` as a dense float32 (n_items, n_items) matrix."""
        block = self.left @ self.right
        block[np.diag_indices(block.shape[0])] = 0.0
        return _scattered(block, self.active, self.n_items)


def _users_kernel(weighted: sp.csr_matrix, l2: float, dtype: type = np.float64) -> np.ndarray:
    """``X X^T + l2 I``, dense: the users x users matrix the Woodbury paths invert."""
    kernel = np.asarray((weighted @ weighted.T).toarray(), dtype=dtype)
    kernel[np.diag_indices(kernel.shape[0])] += l2
    return kernel


def low_rank_factors(weighted: sp.csr_matrix, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """EASE weights through the Woodbury identity, for fewer users than items.

    ``(X^T X + l2 I)^-1 = (I - X^T C) / l2`` with ``C = (l2 I + X X^T)^-1 X``: a solve
    of users x users; ``B`` is the product of items x users by users x items, returned
    as its two factors ``(X^T, C / (1 - diag(X^T C)))``. Off the diagonal ``B_ij =
    (X^T C)_ij / (1 - (X^T C)_jj)``: the only subtraction is on the diagonal, computed
    in float64 from ``C`` directly.
    """
    n_items = weighted.shape[1]
    dense = weighted.toarray().astype(np.float64)
    kernel = _users_kernel(weighted, l2)
    solved = scipy.linalg.cho_solve(
        scipy.linalg.cho_factor(kernel, overwrite_a=True, check_finite=False),
        dense,
        check_finite=False,
    )
    denominator = 1.0 - np.einsum("ui,ui->i", dense, solved)
    solved /= denominator[None, :]
    dtype = np.float64 if n_items <= FLOAT64_MAX_ITEMS else np.float32
    return np.ascontiguousarray(dense.T, dtype=dtype), solved.astype(dtype)


def _product(sparse: sp.csr_matrix, dense: np.ndarray) -> np.ndarray:
    """``sparse @ dense`` as float32, by blocks of :data:`FILL_BLOCK` rows on
    :data:`PRODUCT_THREADS` threads (scipy's sparse products let go of the GIL); the
    temporaries are a block's."""
    dense = np.ascontiguousarray(dense)  # else scipy copies it for every block
    result = np.empty((sparse.shape[0], dense.shape[1]), dtype=np.float32)

    def fill(start: int) -> None:
        result[start : start + FILL_BLOCK] = sparse[start : start + FILL_BLOCK] @ dense

    with ThreadPoolExecutor(max_workers=PRODUCT_THREADS) as pool:
        for done in [pool.submit(fill, a) for a in range(0, sparse.shape[0], FILL_BLOCK)]:
            done.result()
    return result


def _kernel_diagonal(by_item: sp.csr_matrix, inverse: np.ndarray) -> np.ndarray:
    """``(X^T K^-1 X)_jj`` of each item ``j`` (a row of ``by_item = X^T``), float64: the
    inverse's entries between the item's own users, never all of ``K^-1 X``."""
    diagonal = np.empty(by_item.shape[0])
    for item in range(by_item.shape[0]):
        span = slice(by_item.indptr[item], by_item.indptr[item + 1])
        users, values = by_item.indices[span], by_item.data[span].astype(np.float64)
        diagonal[item] = values @ inverse[np.ix_(users, users)] @ values
    return diagonal


@dataclass(frozen=True)
class KernelWeights:
    """EASE weights of the bought items kept as the inverse of the users' kernel.

    For fewer users than half the items, where :class:`LowRankWeights`' dense factors
    would be too large: ``C = K^-1 X`` with ``K = l2 I + X X^T`` (users x users), and
    ``B_ij = (X^T C)_ij / d_j`` off the diagonal, ``d_j = 1 - (X^T C)_jj``. Scoring some
    users costs a product with the inverse and two sparse products with ``X``;
    :meth:`dense` forms ``B`` from two sparse products with ``X``, never a dense copy of
    ``X`` (the weights and two users x items float32 matrices at the most). The kernel
    is inverted in float32 above :data:`FLOAT64_MAX_USERS` users.
    """

    n_items: int
    active: np.ndarray  # the items in the solve, sorted
    by_item: sp.csr_matrix  # X^T: (active, users)
    inverse: np.ndarray  # K^-1: (users, users)
    denominator: np.ndarray  # d: (active,), float64

    @classmethod
    def solve(
        cls, weighted: sp.csr_matrix, l2: float, active: np.ndarray, n_items: int
    ) -> KernelWeights:
        """Invert the users' kernel of ``weighted`` (users with items x ``active``)."""
        small = weighted.shape[0] <= FLOAT64_MAX_USERS
        inverse = _users_kernel(weighted, l2, np.float64 if small else np.float32)
        spd_inverse(inverse)
        by_item = weighted.T.tocsr()
        denominator = 1.0 - _kernel_diagonal(by_item, inverse)
        return cls(n_items, active, by_item, inverse, denominator)

    def scores(self, rows: sp.csr_matrix) -> np.ndarray:
        """``rows @ B`` for weighted rows over the whole catalog: (n_rows, n_items)."""
        compact = sp.csr_matrix(rows)[:, self.active]
        near = np.asarray((compact @ self.by_item).toarray(), dtype=self.inverse.dtype)
        product = np.asarray(self.by_item @ (near @ self.inverse).T, np.float64).T
        # B's diagonal is 0: take each row's own items' (X^T C)_jj = 1 - d_j back out.
        own = compact.tocoo()
        product[own.row, own.col] -= own.data * (1.0 - self.denominator[own.col])
        product /= self.denominator[None, :]
        result = np.zeros((rows.shape[0], self.n_items), dtype=np.float32)
        result[:, self.active] = product
        return result

    @property
    def nbytes(self) -> int:
        """Memory held (what a fit cache counts)."""
        arrays = (self.active, self.by_item.data, self.by_item.indices, self.by_item.indptr)
        return int(sum(a.nbytes for a in arrays) + self.inverse.nbytes + self.denominator.nbytes)

    def dense(self) -> np.ndarray:
        """``B`` as a dense float32 (n_items, n_items) matrix."""
        solved = _product(self.by_item, self.inverse).T  # C
        weights = _product(self.by_item, solved)
        del solved
        weights /= self.denominator.astype(np.float32)[None, :]
        weights[np.diag_indices(weights.shape[0])] = 0.0
        return _scattered(weights, self.active, self.n_items)


def _scattered(block: np.ndarray, active: np.ndarray, n_items: int) -> np.ndarray:
    """The weights of the ``active`` items placed in a zero (n_items, n_items) matrix."""
    if active.size == n_items:
        return np.ascontiguousarray(block, dtype=np.float32)
    weights = np.zeros((n_items, n_items), dtype=np.float32)
    for start in range(0, active.size, FILL_BLOCK):
        stop = min(start + FILL_BLOCK, active.size)
        weights[np.ix_(active[start:stop], active)] = block[start:stop]
    return weights


def ease_solve(weighted: sp.csr_matrix, l2: float) -> np.ndarray | LowRankWeights | KernelWeights:
    """EASE weights of a weighted users x items matrix: dense float32, or the factors.

    Items nobody has are left out of the solve (their rows and columns of ``B`` are
    zero: nothing predicts them, they predict nothing), and users with no item too;
    with fewer users than half the items the Woodbury identity replaces the inverse,
    and the weights stay factored (:class:`LowRankWeights`) while the factors are small
    (:data:`LOW_RANK_MAX_CELLS`), else as the inverse of the users' kernel
    (:class:`KernelWeights`); either is formed whole when first needed. All
    are exact: the same weights up to rounding.
    """
    n_items = weighted.shape[1]
    weighted = sp.csr_matrix(weighted)
    present = weighted.data != 0
    active = np.flatnonzero(np.bincount(weighted.indices[present], minlength=n_items) > 0)
    rows = np.repeat(np.arange(weighted.shape[0]), np.diff(weighted.indptr))
    users = np.flatnonzero(np.bincount(rows[present], minlength=weighted.shape[0]) > 0)
    compact = weighted[users][:, active] if active.size < n_items else weighted[users]
    if active.size == 0:
        return np.zeros((n_items, n_items), dtype=np.float32)
    if users.size * 2 < active.size:
        if users.size * active.size <= LOW_RANK_MAX_CELLS:
            left, right = low_rank_factors(compact, l2)
            diagonal = np.einsum("iu,ui->i", left, right)
            return LowRankWeights(n_items, active, left, right, diagonal)
        return KernelWeights.solve(compact, l2, active, n_items)
    return _scattered(direct_weights(compact, l2), active, n_items)


class EASERecommender(HistoryRecommender, name="ease"):
    """Score items with a dense item x item weight matrix learned in closed form.

    ``B = I - P / diag(P)`` with ``P = (X^T X + l2 I)^-1``, so each item is predicted
    from every other item the user has, never from itself. Memory and time grow with
    the square and cube of the catalog, hence ``max_items``; items nobody has are left
    out of the solve, and with fewer users than items the solve is the users' (see
    :func:`ease_solve`): 593 users x 14,190 items fit in seconds.

    Parameters
    ----------
    l2 : float
        Ridge penalty on the diagonal of the Gram matrix; larger is smoother.
    weighting : {"raw", "binary", "log"}
        Transform applied to the weights before anything else.
    max_items : int
        Refuse larger catalogs with :class:`CatalogTooLargeError`: the weights are a
        dense float32 matrix, and the solve needs a second one of the items with
        interactions, about ``8 * n_items ** 2`` bytes at most. Use ``item_knn`` or
        ``svd`` there.
    recency_half_life_days : float, optional
        Score known users with their history decayed by this half-life (needs
        ``timestamps`` at fit); see :class:`~recommendations.engine.itemknn.HistoryRecommender`.
    max_history : int, optional
        Score a history with its this many heaviest (most recent) items only; None
        for all of them. See :class:`~recommendations.engine.itemknn.HistoryRecommender`.
    """

    def __init__(
        self,
        *,
        l2: float = 500.0,
        weighting: str = "binary",
        max_items: int = 20_000,
        recency_half_life_days: float | None = None,
        max_history: int | None = DEFAULT_MAX_HISTORY,
    ) -> None:
        self.l2 = l2
        self.weighting = weighting
        self.max_items = max_items
        self.recency_half_life_days = recency_half_life_days
        self.max_history = max_history

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        l2 = check_non_negative(self.l2, "l2")
        max_items = check_positive_int(self.max_items, "max_items")
        if l2 == 0:
            raise ValueError("l2 must be positive: the Gram matrix may be singular without it.")
        n_items = interactions.shape[1]
        if n_items > max_items:
            raise CatalogTooLargeError(
                f"EASE needs a dense {n_items} x {n_items} matrix; the catalog has more than "
                f"max_items={max_items} items. Raise max_items if memory allows "
                "(about 8 * n_items ** 2 bytes) or use item_knn or svd."
            )
        self._fit_history(interactions, timestamps)
        self.__dict__.pop("weights_", None)
        weighted = apply_weighting(interactions, self.weighting)
        # The solve depends on the weighted matrix and l2 only: a blend's EASE and a
        # standalone one (another history setting) on the same events share it.
        solved = cached_fit("ease", weighted, (l2,), lambda: ease_solve(weighted, l2))
        if isinstance(solved, LowRankWeights | KernelWeights):
            # Formed when first needed (saving, similar items): a fit that only scores
            # some users (validation, a holdout) never pays for the dense product.
            self._factored = solved
        else:
            self._factored = None
            self.weights_ = solved

    def __getattr__(self, name: str) -> Any:
        if name == "weights_" and self.__dict__.get("_factored") is not None:
            self.weights_ = self.__dict__.pop("_factored").dense()
            return self.weights_
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _state(self) -> dict[str, Any]:
        self.weights_  # noqa: B018 - the dense weights are what an artifact saves
        return super()._state()

    def _score_weighted(self, rows: sp.csr_matrix) -> np.ndarray:
        factored = self.__dict__.get("_factored")
        if factored is not None:
            return factored.scores(rows)
        return np.asarray(rows @ self.weights_, dtype=np.float32)

    def _item_similarities(self, item_id: int) -> np.ndarray:
        return self.weights_[item_id]

    def _contributions_batch(self, row: sp.csr_matrix, item_ids: np.ndarray) -> np.ndarray:
        values = weight_values(row.data, self.weighting)
        return values[None, :] * self.weights_[np.ix_(row.indices, item_ids)].T
