"""Social recommenders: what the people a user follows (trusts, befriended) liked.

Both models take the users x users ``social`` matrix at ``fit`` (row ``u`` weighs the
users ``u`` follows; a mutual relation is two entries). A user's *social votes* for an
item are the summed weights of the users within ``hops`` follows who have it: the
people they follow count fully, the people those follow ``decay`` times less, and so on.
With ``taste_smoothing`` set, each voter's weight is further multiplied by
``taste_smoothing + cosine`` of the two histories, so a followed user whose taste is
alike counts more than one who only shares a friend; a user with no history of their
own (cold start) still gets every relation at the smoothing weight.

- :class:`SocialTrustRecommender` (``"social_trust"``): the items of the people one
  follows, ranked by their votes, then the best sellers; nothing of one's own history.
- :class:`SocialBlendRecommender` (``"social_blend"``): a collaborative model (EASE by
  default) whose per-user z-scored scores are mixed with the z-scored social votes at a
  weight chosen on held-out pairs. A user without votes (no relations, or relations who
  liked nothing) gets exactly the collaborative model's scores.

A user who followed someone after training is scored from a ``social_row`` given at
request time (``recommend_interactions(..., social_row=...)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommendations.engine.base import Recommender, csr_rows, registered
from recommendations.engine.blend import standardise_rows
from recommendations.engine.itemknn import (
    check_non_negative,
    check_positive_int,
    top_k_per_row,
)
from recommendations.engine.metrics import ndcg_at_k
from recommendations.engine.split import holdout_new_items

#: Weights the validation of :class:`SocialBlendRecommender` tries for the social votes.
DEFAULT_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
#: Weight of the best sellers among items the mix leaves tied (a cold user's unvoted
#: items): small enough never to reorder two items that differ otherwise.
POPULARITY_TIE_BREAK = 1e-3


class SocialVotes:
    """The social votes of users for items, shared by the social models.

    Subclasses set ``hops``, ``decay``, ``taste_smoothing`` and ``max_neighbours`` and,
    after ``fit``, ``social_`` (the users x users matrix) and ``interactions_``.
    """

    hops: int
    decay: float
    taste_smoothing: float | None
    max_neighbours: int
    social_: sp.csr_matrix
    interactions_: sp.csr_matrix

    def _check_social_params(self) -> None:
        check_positive_int(self.hops, "hops")
        check_non_negative(self.decay, "decay")
        check_positive_int(self.max_neighbours, "max_neighbours")
        if self.taste_smoothing is not None:
            check_non_negative(self.taste_smoothing, "taste_smoothing")

    def _voters(self, social: sp.csr_matrix, exclude: np.ndarray | None) -> sp.csr_matrix:
        """Trust of each row in every user within ``hops`` follows: (rows, n_users) CSR."""
        reach = sp.csr_matrix(social, dtype=np.float32)
        frontier = reach
        for _ in range(int(self.hops) - 1):
            frontier = sp.csr_matrix(frontier @ self.social_) * np.float32(self.decay)
            reach = sp.csr_matrix(reach + frontier)
        if exclude is not None and reach.nnz:
            # A known user reaches themself through a friend who follows them back.
            rows = np.repeat(np.arange(reach.shape[0]), np.diff(reach.indptr))
            reach.data[reach.indices == exclude[rows]] = 0.0
        reach.eliminate_zeros()
        return top_k_per_row(reach, int(self.max_neighbours))

    def _votes(
        self,
        social: sp.csr_matrix,
        history: sp.csr_matrix,
        exclude: np.ndarray | None,
        *,
        liked: sp.csr_matrix | None = None,
    ) -> np.ndarray:
        """Summed voter weights per item, (rows, n_items) float32; zero rows: no votes.

        ``history`` holds the rows' own items (for the taste similarity); ``liked`` the
        voters' items (the training matrix unless given).
        """
        liked = sp.csr_matrix(self.interactions_ if liked is None else liked)
        liked = sp.csr_matrix(liked > 0, dtype=np.float32)
        voters = self._voters(social, exclude)
        if self.taste_smoothing is not None and voters.nnz:
            own = sp.csr_matrix(history > 0, dtype=np.float32)
            rows = np.repeat(np.arange(voters.shape[0]), np.diff(voters.indptr))
            overlap = np.asarray(own[rows].multiply(liked[voters.indices]).sum(axis=1)).ravel()
            sizes = np.diff(liked.indptr).astype(np.float32)
            norms = np.sqrt(np.diff(own.indptr)[rows] * sizes[voters.indices])
            cosine = np.divide(overlap, norms, out=np.zeros_like(overlap), where=norms > 0)
            voters = voters.copy()
            voters.data = (voters.data * (float(self.taste_smoothing) + cosine)).astype(np.float32)
        return np.asarray((voters @ liked).toarray(), dtype=np.float32)


def _component(spec: Any, *, name: str) -> tuple[type[Recommender], dict[str, Any]]:
    """The class and parameters of a ``(name, params)`` pair; a ValueError naming ``name``."""
    classes = registered()
    if isinstance(spec, str | bytes) or not isinstance(spec, Sequence) or len(spec) != 2:
        raise ValueError(f"{name} must be a (name, params) pair, got {spec!r}.")
    component, params = spec
    if component not in classes or classes[component].uses_social:
        known = ", ".join(sorted(n for n, c in classes.items() if not c.uses_social))
        raise ValueError(f"Unknown {name} {component!r}; choose from: {known}.")
    if not isinstance(params, dict):
        raise ValueError(f"Parameters of {name} {component!r} must be a dict.")
    return classes[component], dict(params)


class SocialRecommender(SocialVotes, Recommender):
    """Base of the social models: a collaborative component plus social votes."""

    uses_social = True
    collaborative_: Recommender

    def _store_social(self, social: sp.csr_matrix | None) -> None:
        n_users = self.interactions_.shape[0]
        self.social_ = (
            sp.csr_matrix((n_users, n_users), dtype=np.float32) if social is None else social
        )

    def _user_votes(self, user_ids: np.ndarray) -> np.ndarray:
        return self._votes(
            csr_rows(self.social_, user_ids), csr_rows(self.interactions_, user_ids), user_ids
        )

    def _mix(self, base: np.ndarray, votes: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _score_rows(self, rows: sp.csr_matrix, user_features) -> np.ndarray:
        # A history without relations: nothing social to add.
        return np.asarray(self.collaborative_._score_rows(rows, user_features), np.float32)

    def _score_social_rows(self, rows, user_features, social) -> np.ndarray:
        base = np.asarray(self.collaborative_._score_rows(rows, user_features), np.float32)
        return self._mix(base, self._votes(social, rows, None))

    def _score_users(self, user_ids: np.ndarray) -> np.ndarray:
        base = np.asarray(self.collaborative_._score_users(user_ids), np.float32)
        return self._mix(base, self._user_votes(user_ids))

    def _item_similarities(self, item_id: int) -> np.ndarray:
        return self.collaborative_._item_similarities(item_id)

    def _contributions_batch(self, row: sp.csr_matrix, item_ids: np.ndarray) -> np.ndarray:
        return self.collaborative_._contributions_batch(row, item_ids)


class SocialTrustRecommender(SocialRecommender, name="social_trust"):
    """The items liked by the people a user follows, then the best sellers.

    Every item a voter has scores above every item none has; among the rest, and for a
    user without votes, items rank by ``fallback`` (popularity by default). The user's
    own history plays no part, so explanations are empty.

    Parameters
    ----------
    hops : int
        Follows followed: 1 is the people a user follows, 2 adds the people they follow.
    decay : float
        Each further hop weighs this many times the one before.
    taste_smoothing : float, optional
        Weigh each voter by ``taste_smoothing + cosine`` of the two histories; None
        weighs every voter by their trust alone.
    max_neighbours : int
        Voters kept per user (the most trusted), bounding the cost of a wide network.
    fallback : (name, params) pair
        The recommender ranking the items without votes.

    Attributes
    ----------
    social_ : scipy.sparse.csr_matrix of shape (n_users, n_users)
        Who follows whom, as given to ``fit`` (empty when none was given).
    collaborative_ : Recommender
        The fitted fallback.
    """

    def __init__(
        self,
        *,
        hops: int = 2,
        decay: float = 0.1,
        taste_smoothing: float | None = None,
        max_neighbours: int = 200,
        fallback: tuple[str, dict[str, Any]] = ("popularity", {}),
    ) -> None:
        self.hops = hops
        self.decay = decay
        self.taste_smoothing = taste_smoothing
        self.max_neighbours = max_neighbours
        self.fallback = fallback

    def _fit(self, interactions, *, user_features, item_features, timestamps, social) -> None:
        self._check_social_params()
        klass, params = _component(self.fallback, name="fallback")
        self.collaborative_ = klass(**params).fit(
            interactions,
            user_features=user_features,
            item_features=item_features,
            timestamps=timestamps,
        )
        self._store_social(social)

    def _mix(self, base: np.ndarray, votes: np.ndarray) -> np.ndarray:
        # Voted items from 2 up in vote order, the others below 1 in fallback order.
        low, high = base.min(axis=1, keepdims=True), base.max(axis=1, keepdims=True)
        span = np.where(high > low, high - low, 1.0)
        ranked = 0.999 * (base - low) / span
        peak = votes.max(axis=1, keepdims=True)
        scaled = 2.0 + votes / np.where(peak > 0, peak, 1.0)
        return np.where(votes > 0, scaled, ranked).astype(np.float32)


class SocialBlendRecommender(SocialRecommender, name="social_blend"):
    """A collaborative model mixed with social votes at a weight learned on held-out pairs.

    For a user with votes, the score is ``z(collaborative) + weight * z(votes)`` (z-score
    of each row over the catalog) plus a tie-break by popularity; for a user without,
    the collaborative score unchanged. The weight is the one of ``grid`` that gives the
    best NDCG@k, on the users with votes, when the newest ``validation_fraction`` of the
    pairs (by time; a seeded random sample without ``timestamps``) is held out and
    everything is fitted on the rest. Too few such users, and ``default_weight`` is used
    and ``fallback_`` says why.

    Parameters
    ----------
    collaborative : (name, params) pair
        The collaborative recommender (registered name and parameters).
    hops, decay, taste_smoothing, max_neighbours
        The social votes, as in :class:`SocialTrustRecommender`.
    weight : float, optional
        A fixed weight of the votes: nothing is held out.
    default_weight : float
        The weight when validation has too few users.
    grid : sequence of float
        Candidate weights of the validation.
    validation_fraction : float
        Share of the pairs held out for the validation (between 0 and 1).
    min_validation_users : int
        Users with votes and held-out new items the validation needs.
    max_validation_users : int
        Validation users scored at most (a seeded sample beyond).
    k : int
        Cut-off of the NDCG maximised.
    random_state : int
        Seed of the samples.

    Attributes
    ----------
    collaborative_ : Recommender
        The collaborative model fitted on every pair.
    social_ : scipy.sparse.csr_matrix of shape (n_users, n_users)
        Who follows whom.
    weight_ : float
        Weight of the z-scored votes.
    item_prior_ : ndarray of float32
        The z-scored popularity of the items, the tie-break.
    validation_ndcg_ : float or None
        NDCG@k of the chosen weight on the validation users.
    fallback_ : str or None
        Why the weight was not learned (None when it was, or was given).
    """

    def __init__(
        self,
        *,
        collaborative: tuple[str, dict[str, Any]] = ("ease", {}),
        hops: int = 2,
        decay: float = 0.1,
        taste_smoothing: float | None = 0.1,
        max_neighbours: int = 200,
        weight: float | None = None,
        default_weight: float = 1.0,
        grid: Sequence[float] = DEFAULT_GRID,
        validation_fraction: float = 0.1,
        min_validation_users: int = 20,
        max_validation_users: int = 3000,
        k: int = 20,
        random_state: int = 0,
    ) -> None:
        self.collaborative = collaborative
        self.hops = hops
        self.decay = decay
        self.taste_smoothing = taste_smoothing
        self.max_neighbours = max_neighbours
        self.weight = weight
        self.default_weight = default_weight
        self.grid = grid
        self.validation_fraction = validation_fraction
        self.min_validation_users = min_validation_users
        self.max_validation_users = max_validation_users
        self.k = k
        self.random_state = random_state

    def _fit(self, interactions, *, user_features, item_features, timestamps, social) -> None:
        self._check_social_params()
        klass, params = _component(self.collaborative, name="collaborative")
        check_non_negative(self.default_weight, "default_weight")
        grid = [check_non_negative(w, "grid") for w in self.grid]
        fraction = check_non_negative(self.validation_fraction, "validation_fraction")
        if not 0 < fraction < 1:
            raise ValueError(f"validation_fraction must be between 0 and 1, got {fraction!r}.")
        check_positive_int(self.k, "k")
        check_positive_int(self.max_validation_users, "max_validation_users")
        check_non_negative(self.min_validation_users, "min_validation_users")
        if not grid:
            raise ValueError("grid must hold at least one weight.")
        features = {"user_features": user_features, "item_features": item_features}
        self._store_social(social)
        self.validation_ndcg_, self.fallback_ = None, None
        if self.weight is not None:
            self.weight_ = check_non_negative(self.weight, "weight")
        elif not self.social_.nnz:
            self.weight_ = 0.0
            self.fallback_ = "no social relations: the collaborative model alone"
        else:
            self.weight_ = self._learn_weight(klass, params, interactions, timestamps, features)
        self.collaborative_ = klass(**params).fit(interactions, timestamps=timestamps, **features)
        popularity = np.diff(interactions.tocsc().indptr).astype(np.float32)[None, :]
        self.item_prior_ = standardise_rows(popularity)[0]

    def _learn_weight(
        self,
        klass: type[Recommender],
        params: dict[str, Any],
        interactions: sp.csr_matrix,
        timestamps: sp.csr_matrix | None,
        features: dict[str, Any],
    ) -> float:
        """The weight of ``grid`` with the best NDCG@k on the held-out pairs."""
        rng = np.random.default_rng(self.random_state)
        fraction = float(self.validation_fraction)
        if timestamps is not None and timestamps.nnz == interactions.nnz:
            times = sp.csr_matrix(timestamps)
            times.sort_indices()
            held = times.data > np.quantile(times.data, 1.0 - fraction)
        else:
            times = None
            held = rng.random(interactions.nnz) < fraction
        earlier = interactions.copy()
        earlier.data = np.where(held, 0.0, earlier.data).astype(np.float32)
        earlier.eliminate_zeros()
        later = interactions.copy()
        later.data = np.where(held, later.data, 0.0).astype(np.float32)
        later.eliminate_zeros()
        target = holdout_new_items(earlier, later)
        followers = np.diff(self.social_.indptr) > 0
        users = np.flatnonzero((np.diff(target.indptr) > 0) & followers)
        if users.size > int(self.max_validation_users):
            users = np.sort(rng.choice(users, size=int(self.max_validation_users), replace=False))
        if users.size < float(self.min_validation_users):
            self.fallback_ = (
                f"{users.size} user(s) with relations and held-out items, fewer than "
                f"min_validation_users={self.min_validation_users}: default_weight used"
            )
            return float(self.default_weight)
        earlier_times = None
        if times is not None:
            earlier_times = times.copy()
            earlier_times.data = np.where(held, 0.0, earlier_times.data)
            earlier_times.eliminate_zeros()
        model = klass(**params).fit(earlier, timestamps=earlier_times, **features)
        base = standardise_rows(model._score_users(users))
        votes = self._votes(csr_rows(self.social_, users), earlier[users], users, liked=earlier)
        has = votes.max(axis=1) > 0
        normalised = standardise_rows(votes)
        prior = standardise_rows(np.diff(earlier.tocsc().indptr)[None, :].astype(np.float32))
        seen = earlier[users].nonzero()
        k = int(self.k)
        best, best_weight = -1.0, float(self.default_weight)
        for weight in self.grid:
            mixed = base + float(weight) * normalised + POPULARITY_TIE_BREAK * prior
            mixed = np.where(has[:, None], mixed, base)
            mixed[seen] = -np.inf
            top = np.argsort(-mixed, axis=1, kind="stable")[:, :k]
            quality = ndcg_at_k(top, target[users], k)
            if quality > best + 1e-9:
                best, best_weight = quality, float(weight)
        self.validation_ndcg_ = float(best)
        return best_weight

    def _mix(self, base: np.ndarray, votes: np.ndarray) -> np.ndarray:
        has = votes.max(axis=1) > 0
        if not has.any() or not self.weight_:
            return base
        mixed = base.copy()
        mixed[has] = (
            standardise_rows(base[has])
            + np.float32(self.weight_) * standardise_rows(votes[has])
            + np.float32(POPULARITY_TIE_BREAK) * self.item_prior_[None, :]
        )
        return mixed
