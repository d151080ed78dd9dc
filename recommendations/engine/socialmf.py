"""Social-regularised matrix factorisation: implicit ALS whose user factors lean on friends.

Implicit-feedback ALS (Hu, Koren and Volinsky, 2008: every pair counts, a pair the user
has with confidence ``1 + alpha * weight``, the others with confidence 1 as a 0) with
the social term of SocialMF (Jamali and Ester, 2010): a user's factor is pulled towards
the trust-weighted mean of the factors of the people they follow, with strength
``social_regularization``. A user with few items of their own thereby borrows the
taste of their friends; a user who follows nobody is plain ALS.

The L2 penalty that suits one data set can ruin another (a penalty too small lets the
factors memorise a small, dense catalog), so by default it is chosen on a held-out fold.

A user who followed someone after training is folded in from a ``social_row`` given at
request time (``recommend_interactions(..., social_row=...)``): their factor is solved
against the fixed item factors with the mean of the followed users' factors as prior.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from recommendations.engine.base import Recommender
from recommendations.engine.blend import validation_limit
from recommendations.engine.itemknn import check_non_negative, check_positive_int
from recommendations.engine.social import aligned_times, holdout_fold, holdout_keys
from recommendations.engine.social_gate import ranked_ndcg

#: Conjugate-gradient steps per row and sweep: the previous sweep's factors are a warm
#: start, so a few steps come close to the exact solve.
CG_STEPS = 3
#: Penalties ``regularization=None`` chooses from: the best one differs by an order of
#: magnitude between public data sets (benchmarks/README.md).
REGULARIZATION_GRID = (1.0, 10.0, 50.0)
#: The penalty when too few users hold out pairs to choose one.
DEFAULT_REGULARIZATION = 10.0
#: Share of each user's newest pairs the choice holds out.
VALIDATION_FRACTION = 0.1
#: Users with held-out new items the choice needs.
MIN_VALIDATION_USERS = 20
#: Validation users scored at most (fewer on large catalogs, see ``validation_limit``).
MAX_VALIDATION_USERS = 3000
#: Cut-off of the NDCG the choice maximises.
VALIDATION_K = 20


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
    regularization : float, optional
        L2 penalty of every factor. None: the one of ``REGULARIZATION_GRID`` with the
        best NDCG@20 on each user's newest ``VALIDATION_FRACTION`` of pairs (by time, or
        drawn at random without timestamps), fitted on the rest;
        ``DEFAULT_REGULARIZATION`` when fewer than ``MIN_VALIDATION_USERS`` users hold
        out a new item.
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
    regularization_ : float
        The penalty the factors were fitted with (``regularization`` when given).
    validation_ndcg_ : ndarray of float64, shape (n_tried, 2)
        Each penalty tried and its validation NDCG@20 (no rows when none was chosen).
    social_ : scipy.sparse.csr_matrix of shape (n_users, n_users)
        Who follows whom, each row scaled to sum to 1.
    """

    uses_social = True

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float | None = None,
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
        check_positive_int(self.factors, "factors")
        if self.regularization is not None:
            check_non_negative(self.regularization, "regularization")
        check_non_negative(self.social_regularization, "social_regularization")
        check_non_negative(self.alpha, "alpha")
        check_positive_int(self.iterations, "iterations")
        if isinstance(self.random_state, bool) or not isinstance(self.random_state, int):
            raise ValueError(f"random_state must be an integer, got {self.random_state!r}.")
        n_users = interactions.shape[0]
        self.social_ = row_normalised(
            sp.csr_matrix((n_users, n_users), dtype=np.float32) if social is None else social
        )
        self.validation_ndcg_ = np.zeros((0, 2))
        self.regularization_ = (
            float(self.regularization)
            if self.regularization is not None
            else self._choose_regularization(interactions, timestamps)
        )
        self.user_factors_, self.item_factors_ = self._factorise(
            interactions, self.regularization_
        )
        self._after_load()

    def variants(self) -> list[dict[str, Any]]:
        if self.regularization is not None:
            return [self.get_params()]
        return [{**self.get_params(), "regularization": r} for r in REGULARIZATION_GRID]

    def _factorise(
        self, interactions: sp.csr_matrix, regularization: float
    ) -> tuple[np.ndarray, np.ndarray]:
        """User and item factors of ``interactions`` with the social term of ``social_``."""
        n_users, n_items = interactions.shape
        factors = int(self.factors)
        rng = np.random.default_rng(self.random_state)
        users = (rng.standard_normal((n_users, factors)) * 0.01).astype(np.float32)
        items = (rng.standard_normal((n_items, factors)) * 0.01).astype(np.float32)
        by_item = sp.csr_matrix(interactions.T)
        follows = np.diff(self.social_.indptr) > 0
        for _ in range(int(self.iterations)):
            # Jacobi step for the social prior: every user leans on the previous sweep's
            # factors of their friends, so the sweep does not depend on the user order.
            users = self._conjugate_gradient(
                interactions, items, users, regularization, self.social_ @ users, follows
            )
            items = self._conjugate_gradient(by_item, users, items, regularization)
        users[(np.diff(interactions.indptr) == 0) & ~follows] = 0.0
        return users, items

    def _choose_regularization(
        self, interactions: sp.csr_matrix, timestamps: sp.csr_matrix | None
    ) -> float:
        """The penalty of ``REGULARIZATION_GRID`` whose factors, fitted without each
        user's newest pairs, rank the new items among them best (NDCG@20)."""
        rng = np.random.default_rng(self.random_state)
        ordered = sp.csr_matrix(interactions, copy=True)
        ordered.sort_indices()
        keys = holdout_keys(ordered, aligned_times(ordered, timestamps), rng)
        earlier, target, _ = holdout_fold(
            ordered, keys, fraction=VALIDATION_FRACTION, per_user=True
        )
        users = np.flatnonzero(np.diff(target.indptr) > 0)
        if users.size < MIN_VALIDATION_USERS:
            return DEFAULT_REGULARIZATION
        limit = validation_limit(MAX_VALIDATION_USERS, ordered.shape[1])
        if users.size > limit:
            users = np.sort(rng.choice(users, size=limit, replace=False))
        seen = earlier[users].nonzero()
        tried = []
        for regularization in REGULARIZATION_GRID:
            user_factors, item_factors = self._factorise(earlier, regularization)
            scores = user_factors[users] @ item_factors.T
            scores[seen] = -np.inf
            quality = ranked_ndcg(scores, target[users], VALIDATION_K)
            tried.append((regularization, float(quality.mean())))
        self.validation_ndcg_ = np.array(tried, dtype=np.float64)
        # argmax takes the first of equals: the smaller penalty.
        return float(self.validation_ndcg_[np.argmax(self.validation_ndcg_[:, 1]), 0])

    def _after_load(self) -> None:
        super()._after_load()
        if not hasattr(self, "regularization_"):  # an artifact of before the choice
            self.regularization_ = float(self.regularization)
            self.validation_ndcg_ = np.zeros((0, 2))
        # The item factors at unit length, for similarities: explaining every user's list
        # at training asks for them hundreds of thousands of times.
        items = self.item_factors_.astype(np.float64)
        norms = np.linalg.norm(items, axis=1)
        norms[norms == 0] = 1.0
        self._unit_items = items / norms[:, None]

    def _conjugate_gradient(
        self,
        rows: sp.csr_matrix,
        other: np.ndarray,
        start: np.ndarray,
        regularization: float,
        prior: np.ndarray | None = None,
        leans: np.ndarray | None = None,
    ) -> np.ndarray:
        """:meth:`_solve` approximated by a few conjugate-gradient steps from ``start``.

        All rows at once with sparse products (as the ``implicit`` library does), so a
        sweep costs a few passes over the pairs instead of one solve per row.
        """
        other = other.astype(np.float32)
        size = other.shape[1]
        gram = other.T @ other + np.float32(regularization) * np.eye(size, dtype=np.float32)
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
        regularised = other64.T @ other64 + float(self.regularization_) * np.eye(size)
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
        return (self._unit_items @ self._unit_items[item_id]).astype(np.float32)

    def _contributions_batch(self, row: sp.csr_matrix, item_ids: np.ndarray) -> np.ndarray:
        # The cosines of the asked items to the history's, in one product (float32, as
        # the similarities are, so explain and explain_batch agree).
        cosines = (self._unit_items[item_ids] @ self._unit_items[row.indices].T).astype(np.float32)
        return row.data[None, :] * cosines


class ALSRecommender(SocialMFRecommender, name="als"):
    """Implicit ALS: :class:`SocialMFRecommender` without relations or a social term.

    The same factorisation, penalty choice (``regularization=None``) and parameters,
    less ``social_regularization``. It needs no relations, so a social blend can use it
    as a non-social model (``alone``).
    """

    uses_social = False

    def __init__(
        self,
        *,
        factors: int = 64,
        regularization: float | None = None,
        alpha: float = 5.0,
        iterations: int = 10,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            factors=factors,
            regularization=regularization,
            social_regularization=0.0,
            alpha=alpha,
            iterations=iterations,
            random_state=random_state,
        )

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        super()._fit(
            interactions,
            user_features=user_features,
            item_features=item_features,
            timestamps=timestamps,
            social=None,
        )
