"""Textbook EASE (Steck, 2019) in plain numpy: the EASE peer of ``BENCHMARK.md``.

Independent of the engine's solver (``recommendations/engine/ease.py``): binary X,
``P = (X^T X + l2 I)^-1``, ``B = I - P / diag(P)``, scores ``X_u B = X_u - (X_u P) /
diag(P)``. ``P`` comes from one eigendecomposition of the Gram matrix (or, with fewer
users than items, one SVD of X and the Woodbury identity), so every ``l2`` of a grid
costs only the scoring of the test users, and the peer is reported at its best, as the
reference table reports its peers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

#: The peer's grid: each value is scored on the test, the best is reported.
L2_GRID = (100.0, 250.0, 500.0, 1000.0, 2000.0)


class ReferenceEASE:
    """EASE for every ``l2`` of a grid from one decomposition; ``use(l2)`` picks one."""

    def __init__(self, train: sp.csr_matrix) -> None:
        self.train = sp.csr_matrix(train)
        self.n_users_, self.n_items_ = train.shape
        binary = (self.train > 0).astype(np.float64)
        self.binary = sp.csr_matrix(binary)
        # Fewer users than items: X = U S V^T, and (X^T X + l2 I)^-1 = (I - V diag(s^2 /
        # (s^2 + l2)) V^T) / l2. Otherwise X^T X = V diag(e) V^T, P = V diag(1 / (e + l2)) V^T.
        self.low_rank = binary.shape[0] < binary.shape[1]
        if self.low_rank:
            _, values, right = np.linalg.svd(binary.toarray(), full_matrices=False)
            self.basis, self.eigen = right.T, values**2
        else:
            self.eigen, self.basis = np.linalg.eigh((binary.T @ binary).toarray())
        self.l2 = L2_GRID[0]

    def use(self, l2: float) -> ReferenceEASE:
        """Score with this ``l2`` from now on."""
        self.l2 = float(l2)
        return self

    def _scores(self, users: np.ndarray) -> np.ndarray:
        rows = self.binary[users].toarray()
        basis, l2 = self.basis, self.l2
        if self.low_rank:
            shrink = self.eigen / (self.eigen + l2)
            product = (rows - ((rows @ basis) * shrink) @ basis.T) / l2
            diagonal = (1.0 - np.einsum("ir,r,ir->i", basis, shrink, basis)) / l2
        else:
            inverse = 1.0 / (self.eigen + l2)
            product = ((rows @ basis) * inverse) @ basis.T
            diagonal = np.einsum("ir,r,ir->i", basis, inverse, basis)
        return rows - product / diagonal[None, :]

    def recommend_batch(
        self, user_ids: Any, n: int = 20, *, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-n of many users, best first."""
        users = np.asarray(user_ids)
        scores = self._scores(users)
        if exclude_seen:
            seen = self.train[users].nonzero()
            scores[seen] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :n]
        return top.astype(np.int64), np.take_along_axis(scores, top, axis=1)
