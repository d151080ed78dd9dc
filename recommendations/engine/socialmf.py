"""Social-regularised matrix factorisation: implicit ALS whose user factors lean on friends.

Implicit-feedback ALS (Hu, Koren and Volinsky, 2008: every pair counts, a pair the user
has with confidence ``1 + alpha * weight``, the others with confidence 1 as a 0) with
the social term of SocialMF (Jamali and Ester, 2010): a user's factor is pulled towards
the trust-weighted mean of the factors of the people they follow, with strength
``social_regularization``. A user with few items of their own thereby borrows the
taste of their friends; a user who follows nobody is plain ALS.

A user who followed someone after training is folded in from a ``social_row`` given at
request time (``recommend_interactions(..., social_row=...)``): their factor is solved
against the fixed item factors with the mean of the followed users' factors as prior.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommendations.engine.base import Recommender
from recommendations.engine.itemknn import check_non_negative, check_positive_int

#: Conjugate-gradient steps per row and sweep: the previous sweep's factors are a warm
#: start, so a few steps come close to the exact solve.
CG_STEPS = 3


def row_normalised(social: sp.csr_matrix) -> sp.csr_matrix:
    """``social`` with each non-empty row scaled to sum to 1 (a trust-weighted mean)."""
    sums = np.asarray(social.sum(axis=1)).ravel()
    scale = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums > 0)
    return sp.csr_matrix(sp.diags(scale.astype(np.float32)) @ social, dtype=np.float32)


class SocialMFRecommender(Recommender, name="social_mf"):
    """Implicit ALS with each user's factor regularised towards their friends' factors.

    Parameters
    ----------
    factors : int
        Size of the latent factors.
    regularization : float
        L2 penalty of every factor.
    social_regularization : float
        Pull of a user's factor towards the mean factor of the users they follow; 0 is
        plain implicit ALS.
    alpha : float
        Confidence of an observed pair: ``1 + alpha * weight``.
    iterations : int
        Alternating sweeps (users, then items).
    random_state : int
        Seed of the initial factors.

    Attributes
    ----------
    user_factors_ : ndarray of float32, shape (n_users, factors)
    item_factors_ : ndarray of float32, shape (n_items, factors)
    social_ : scipy.sparse.csr_matrix of shape (n_users, n_users)
        Who follows whom, each row scaled to sum to 1.
    """

    uses_social = True

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float = 1.0,
        social_regularization: float = 5.0,
        alpha: float = 5.0,
        iterations: int = 10,
        random_state: int = 0,
    ) -> None:
        self.factors = factors
        self.regularization = regularization
        self.social_regularization = social_regularization
        self.alpha = alpha
        self.iterations = iterations
        self.random_state = random_state

    def _fit(self, interactions, *, user_features, item_features, timestamps, social) -> None:
        factors = check_positive_int(self.factors, "factors")
        check_non_negative(self.regularization, "regularization")
        check_non_negative(self.social_regularization, "social_regularization")
        check_non_negative(self.alpha, "alpha")
        iterations = check_positive_int(self.iterations, "iterations")
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, int):
            raise ValueError(f"random_state must be an integer, got {self.random_state!r}.")
        n_users, n_items = interactions.shape
        self.social_ = row_normalised(
            sp.csr_matrix((n_users, n_users), dtype=np.float32) if social is None else social
        )
        rng = np.random.default_rng(self.random_state)
        users = (rng.standard_normal((n_users, factors)) * 0.01).astype(np.float32)
        items = (rng.standard_normal((n_items, factors)) * 0.01).astype(np.float32)
        by_item = sp.csr_matrix(interactions.T)
        follows = np.diff(self.social_.indptr) > 0
        for _ in range(iterations):
            # Jacobi step for the social prior: every user leans on the previous sweep's
            # factors of their friends, so the sweep does not depend on the user order.
            users = self._conjugate_gradient(
                interactions, items, users, self.social_ @ users, follows
            )
            items = self._conjugate_gradient(by_item, users, items)
        users[(np.diff(interactions.indptr) == 0) & ~follows] = 0.0
        self.user_factors_, self.item_factors_ = users, items

    def _conjugate_gradient(
        self,
        rows: sp.csr_matrix,
        other: np.ndarray,
        start: np.ndarray,
        prior: np.ndarray | None = None,
        leans: np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`_solve` approximated by a few conjugate-gradient steps from ``start``.

        All rows at once with sparse products (as the ``implicit`` library does), so a
        sweep costs a few passes over the pairs instead of one solve per row.
        """
        other = other.astype(np.float32)
        size = other.shape[1]
        gram = other.T @ other + np.float32(self.regularization) * np.eye(size, dtype=np.float32)
        confidence = np.float32(self.alpha) * rows.data
        owners = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        gathered = other[rows.indices]
        pull = np.zeros((rows.shape[0], 1), dtype=np.float32)
        target = (
            sp.csr_matrix((1.0 + confidence, rows.indices, rows.indptr), shape=rows.shape) @ other
        )
        if prior is not None and leans is not None:
            pull[leans, 0] = np.float32(self.social_regularization)
            target = target + pull * prior

        def product(x: np.ndarray) -> np.ndarray:
            dots = np.einsum("nf,nf->n", gathered, x[owners]) * confidence
            spread = sp.csr_matrix((dots, rows.indices, rows.indptr), shape=rows.shape) @ other
            return x @ gram + spread + pull * x

        x = start.astype(np.float32)
        residual = target - product(x)
        direction = residual.copy()
        norm = np.einsum("nf,nf->n", residual, residual)
        for _ in range(CG_STEPS):
            moved = product(direction)
            curvature = np.einsum("nf,nf->n", direction, moved)
            step = np.divide(norm, curvature, out=np.zeros_like(norm), where=curvature > 1e-20)
            x += step[:, None] * direction
            residual -= step[:, None] * moved
            new_norm = np.einsum("nf,nf->n", residual, residual)
            ratio = np.divide(new_norm, norm, out=np.zeros_like(norm), where=norm > 1e-20)
            direction = residual + ratio[:, None] * direction
            norm = new_norm
        return x.astype(np.float32)

    def _solve(
        self,
        rows: sp.csr_matrix,
        other: np.ndarray,
        prior: np.ndarray | None = None,
        leans: np.ndarray | None = None,
    ) -> np.ndarray:
        """Least-squares factors of ``rows`` against the fixed factors ``other``.

        Rows where ``leans`` is true are pulled towards their row of ``prior``.
        """
        other64 = other.astype(np.float64)
        size = other.shape[1]
        regularised = other64.T @ other64 + float(self.regularization) * np.eye(size)
        beta = float(self.social_regularization)
        alpha = float(self.alpha)
        out = np.zeros((rows.shape[0], size), dtype=np.float32)
        for row in range(rows.shape[0]):
            start, end = rows.indptr[row], rows.indptr[row + 1]
            social = beta > 0 and prior is not None and leans is not None and leans[row]
            if start == end and not social:
                continue
            block = other64[rows.indices[start:end]]
            confidence = alpha * rows.data[start:end].astype(np.float64)
            matrix = regularised + (block.T * confidence) @ block
            target = (1.0 + confidence) @ block
            if social:
                matrix = matrix + beta * np.eye(size)
                target = target + beta * prior[row]
            out[row] = np.linalg.solve(matrix, target)
        return out

    def _fold_in(self, rows: sp.csr_matrix, social: sp.csr_matrix | None) -> np.ndarray:
        if social is None:
            return self._solve(rows, self.item_factors_)
        normalised = row_normalised(social)
        prior = np.asarray(normalised @ self.user_factors_, dtype=np.float64)
        return self._solve(rows, self.item_factors_, prior, np.diff(normalised.indptr) > 0)

    def _score_rows(self, rows: sp.csr_matrix, user_features) -> np.ndarray:
        return np.asarray(self._fold_in(rows, None) @ self.item_factors_.T, dtype=np.float32)

    def _score_social_rows(self, rows, user_features, social) -> np.ndarray:
        return np.asarray(self._fold_in(rows, social) @ self.item_factors_.T, dtype=np.float32)

    def _score_users(self, user_ids: np.ndarray) -> np.ndarray:
        users = self.user_factors_[user_ids]
        return np.asarray(users @ self.item_factors_.T, dtype=np.float32)

    def _item_similarities(self, item_id: int) -> np.ndarray:
        items = self.item_factors_.astype(np.float64)
        norms = np.linalg.norm(items, axis=1)
        norms[norms == 0] = 1.0
        return ((items @ items[item_id]) / (norms * norms[item_id])).astype(np.float32)
