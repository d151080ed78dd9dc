"""User-based nearest neighbours: users get what similar users have."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommendations.engine.base import Recommender, csr_rows, top_n
from recommendations.engine.interactions import apply_weighting, weight_values
from recommendations.engine.itemknn import (
    BLOCK_CELLS,
    check_non_negative,
    check_positive_int,
    row_product,
    top_k_per_row,
)


class UserKNNRecommender(Recommender, name="user_knn"):
    """Score items by the weighted votes of the ``k`` most similar training users.

    Neighbours are found at query time, a block of users at a time, by cosine
    similarity with shrinkage, ``dot(x, y) / (|x| |y| + shrinkage)`` raised to
    ``exponent``; a known user is never their own neighbour. No users x users matrix
    is ever built, so memory stays linear in the number of interactions.

    Parameters
    ----------
    k : int
        Neighbours per user.
    shrinkage : float
        Added to the denominator, so neighbours sharing few items count less.
    exponent : float
        Similarities are raised to this power; above 1 favours the closest neighbours.
    weighting : {"raw", "binary", "log"}
        Transform applied to the weights before anything else.
    """

    def __init__(
        self,
        *,
        k: int = 50,
        shrinkage: float = 0.0,
        exponent: float = 2.0,
        weighting: str = "binary",
    ) -> None:
        self.k = k
        self.shrinkage = shrinkage
        self.exponent = exponent
        self.weighting = weighting

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        check_positive_int(self.k, "k")
        check_non_negative(self.shrinkage, "shrinkage")
        check_non_negative(self.exponent, "exponent")
        weighted = apply_weighting(interactions, self.weighting)
        self.user_norms_ = np.sqrt(
            np.asarray(weighted.multiply(weighted).sum(axis=1), dtype=np.float32).ravel()
        )
        self._after_load()

    def _after_load(self) -> None:
        # Both orientations of the weighted matrix: items x users finds neighbours,
        # users x items sums their votes. Rebuilt from interactions_, never saved twice.
        self._weighted = apply_weighting(self.interactions_, self.weighting)
        self._by_item = self._weighted.T.tocsr()
        self._item_norms = np.sqrt(
            np.asarray(self._by_item.multiply(self._by_item).sum(axis=1), np.float64).ravel()
        )

    def _neighbours(self, rows: sp.csr_matrix, exclude: np.ndarray | None = None) -> sp.csr_matrix:
        """Top-``k`` similarity of each row to the training users: (n_rows, n_users) CSR."""
        weighted = apply_weighting(rows, self.weighting)
        row_of_entry = np.repeat(np.arange(rows.shape[0]), np.diff(weighted.indptr))
        norms = np.sqrt(
            np.bincount(row_of_entry, weights=weighted.data**2, minlength=rows.shape[0])
        ).astype(np.float32)
        n_users = self._by_item.shape[1]
        block = max(1, BLOCK_CELLS // max(n_users, 1))
        parts = []
        for start in range(0, rows.shape[0], block):
            stop = min(start + block, rows.shape[0])
            block_rows = weighted if stop - start == rows.shape[0] else weighted[start:stop]
            dots = (block_rows @ self._by_item).astype(np.float32, copy=False)
            local = np.repeat(np.arange(stop - start), np.diff(dots.indptr))
            denominator = (
                norms[start:stop][local] * self.user_norms_[dots.indices] + self.shrinkage
            )
            data = np.divide(
                dots.data, denominator, out=np.zeros_like(dots.data), where=denominator > 0
            )
            if exclude is not None:
                data[dots.indices == exclude[start:stop][local]] = 0.0
            if self.exponent != 1.0:
                np.power(data, self.exponent, out=data)
            dots.data = data
            parts.append(top_k_per_row(dots, int(self.k)))
        return parts[0] if len(parts) == 1 else sp.csr_matrix(sp.vstack(parts, format="csr"))

    def _row_neighbours(
        self, indices: np.ndarray, values: np.ndarray, exclude: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`_neighbours` of one history given by its arrays: (users, similarities).

        Dense over the users, with no sparse products: the serving case, one history per
        call. Ties go to the lower user index, as in the batch path.
        """
        weights = weight_values(values, self.weighting)
        dots = row_product(indices, weights, self._by_item, self._weighted)
        denominator = np.float32(np.sqrt(weights @ weights)) * self.user_norms_ + self.shrinkage
        similarity = np.divide(dots, denominator, out=np.zeros_like(dots), where=denominator > 0)
        if exclude is not None:
            similarity[exclude] = 0.0
        if self.exponent != 1.0:
            np.power(similarity, self.exponent, out=similarity)
        return top_n(np.where(similarity > 0, similarity, -np.inf), int(self.k))

    def _votes(self, rows: sp.csr_matrix, exclude: np.ndarray | None) -> np.ndarray:
        """The neighbours' summed (similarity-weighted) rows: (n_rows, n_items) float32."""
        if rows.shape[0] == 1:
            users, similarity = self._row_neighbours(
                rows.indices, rows.data, None if exclude is None else int(exclude[0])
            )
            return row_product(users, similarity, self._weighted, self._by_item)[None, :]
        neighbours = self._neighbours(rows, exclude=exclude)
        return np.asarray((neighbours @ self._weighted).toarray(), dtype=np.float32)

    def _score_rows(self, rows: sp.csr_matrix, user_features) -> np.ndarray:
        return self._votes(rows, None)

    def _score_users(self, user_ids: np.ndarray) -> np.ndarray:
        return self._votes(csr_rows(self.interactions_, user_ids), user_ids)

    def _item_similarities(self, item_id: int) -> np.ndarray:
        # Items bought by the same users: cosine between item columns.
        column = self._by_item[item_id]
        overlap = np.asarray((column @ self._weighted).toarray(), np.float64).ravel()
        denominator = self._item_norms * self._item_norms[item_id]
        return np.divide(
            overlap, denominator, out=np.zeros_like(overlap), where=denominator > 0
        ).astype(np.float32)

    def _contributions_batch(self, row: sp.csr_matrix, item_ids: np.ndarray) -> np.ndarray:
        # Each neighbour's vote for an item is shared among the history items that made
        # them a neighbour, in proportion to each item's part of the dot product.
        weighted = apply_weighting(row, self.weighting)
        # The neighbours that scored this one history, found the same way.
        users, similarity = self._row_neighbours(row.indices, row.data, None)
        rows = self._weighted[users]
        votes = similarity[:, None] * rows[:, item_ids].toarray()
        overlap = rows[:, weighted.indices].toarray()
        dots = (overlap @ weighted.data)[:, None]
        share = np.divide(votes, dots, out=np.zeros_like(votes), where=dots > 0)
        return weighted.data[None, :] * (share.T @ overlap)
