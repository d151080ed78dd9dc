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
  liked nothing) gets the sum of non-social models' scores, the combination of the
  collaborative model and the ``alone`` models (user-kNN and ALS by default) that does
  best on the shop's held-out pairs.

A user who followed someone after training is scored from a ``social_row`` given at
request time (``recommend_interactions(..., social_row=...)``).
"""

from __future__ import annotations

import contextvars
import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from recommendations.engine.base import (
    Recommender,
    csr_rows,
    recommender_class,
    registered,
    registered_names,
)
from recommendations.engine.blend import finite_rows, validation_limit
from recommendations.engine.ease import CatalogTooLargeError
from recommendations.engine.interactions import SECONDS_PER_DAY
from recommendations.engine.itemknn import (
    check_non_negative,
    check_positive_int,
    top_k_per_row,
)
from recommendations.engine.metrics import ndcg_per_user, paired_bootstrap
from recommendations.engine.progress import progress_report, progress_silenced
from recommendations.engine.social_gate import (
    GATE_FEATURES,
    cross_fitted_choice,
    fit_gate,
    gate_choice,
    gate_features,
    ranked_ndcg,
    top_of_entries,
    top_rows,
)
from recommendations.engine.split import holdout_new_items

#: Weights the validation of :class:`SocialBlendRecommender` tries for the social votes.
DEFAULT_GRID = (0.0, 0.05, 0.1, 0.2, 0.35, 0.5, 1.0, 2.0, 5.0, 20.0)
#: Time scales (days) the validation of :class:`SocialBlendRecommender` tries for the
#: votes; None counts every vote fully.
DEFAULT_RECENCY_GRID = (None, 30.0, 180.0, 720.0)
#: Ways :class:`SocialBlendRecommender` holds pairs out to learn its weights.
VALIDATIONS = ("per_user", "time")
#: Weight of the best sellers among items the mix leaves tied (a cold user's unvoted
#: items): small enough never to reorder two items that differ otherwise.
POPULARITY_TIE_BREAK = 1e-3
#: The collaborative model of a social blend whose own refuses the catalog (EASE above
#: its ``max_items``): a neighbourhood model keeps no dense items x items matrix.
LARGE_CATALOG_COLLABORATIVE = ("user_knn", {})
#: Validation folds measured at once (threads).
FOLD_THREADS = 2
#: A social blend's first validation fold for its users without relations: the pairs
#: it trains on, their times, the users and their held-out new items.
AloneFold = tuple[sp.csr_matrix, sp.csr_matrix | None, np.ndarray, sp.csr_matrix]
#: Users without relations that choose the models for users without votes, at most:
#: enough to tell the sets apart, and each is scored by every model.
ALONE_USERS = 1000
#: The non-social models a social blend may add for users without votes.
DEFAULT_ALONE = (("user_knn", {}), ("als", {}))
#: Full validation folds (as many users as the blend scores per fold) after which no
#: fold is added: each is a fit of the collaborative model, costly on a large catalog,
#: and that many already hold thousands of users.
ENOUGH_FOLDS = 3


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
        recency: tuple[sp.csr_matrix, np.ndarray, float] | None = None,
    ) -> np.ndarray:
        """Summed voter weights per item, (rows, n_items) float32; zero rows: no votes.

        ``history`` holds the rows' own items (for the taste similarity); ``liked`` the
        voters' items (the training matrix unless given); ``recency``, when given,
        ``(times of liked, reference time per row, scale in days)`` for
        :func:`recent_votes`.
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
        if recency is None:
            return np.asarray((voters @ liked).toarray(), dtype=np.float32)
        times, reference, days = recency
        return recent_votes(voters, times, reference, days * SECONDS_PER_DAY)


#: (voter, item) pairs :func:`recent_votes` expands at once: bounds its memory.
RECENT_VOTES_BLOCK = 2_000_000


def recent_votes(
    voters: sp.csr_matrix, times: sp.csr_matrix, reference: np.ndarray, scale: float
) -> np.ndarray:
    """Votes where each voter's item counts ``exp(-|t - reference| / scale)`` times.

    ``voters`` is (rows, n_users); ``times`` (n_users, n_items) holds when each voter
    had each item (unix seconds; NaN for an unknown time, which counts fully);
    ``reference`` (rows,) the time each row's user is judged at. Friends' items from
    the period a user is active in say more about them than ones from years apart.
    """
    times = sp.csr_matrix(times)
    reference = np.asarray(reference, dtype=np.float64)
    n_rows = voters.shape[0]
    votes = np.zeros((n_rows, times.shape[1]), dtype=np.float32)
    owner = np.repeat(np.arange(n_rows), np.diff(voters.indptr))
    pairs = np.bincount(owner, weights=np.diff(times.indptr)[voters.indices], minlength=n_rows)
    total = np.cumsum(pairs)
    start = 0
    while start < n_rows:
        # The rows whose expanded pairs fit in one block (at least one row).
        done = total[start - 1] if start else 0.0
        stop = int(np.searchsorted(total, done + RECENT_VOTES_BLOCK, side="right"))
        stop = min(max(stop, start + 1), n_rows)
        block = voters[start:stop]
        counts = np.diff(times.indptr)[block.indices]
        entry = np.repeat(np.arange(block.nnz), counts)
        first = np.cumsum(counts) - counts
        position = np.repeat(times.indptr[block.indices], counts) + (
            np.arange(entry.size) - np.repeat(first, counts)
        )
        rows = np.repeat(np.arange(block.shape[0]), np.diff(block.indptr))[entry]
        age = np.abs(times.data[position] - reference[start:stop][rows])
        kernel = np.where(np.isfinite(age), np.exp(-np.nan_to_num(age) / float(scale)), 1.0)
        weights = (block.data[entry] * kernel).astype(np.float32)
        summed = sp.csr_matrix(
            (weights, (rows, times.indices[position])), shape=(block.shape[0], times.shape[1])
        )
        votes[start:stop] = summed.toarray()
        start = stop
    return votes


def _is_pair(spec: Any) -> bool:
    """Whether ``spec`` is one ``(name, params)`` pair, not a sequence of them."""
    return isinstance(spec, Sequence) and len(spec) == 2 and isinstance(spec[0], str)


def alone_combinations(n_models: int) -> list[tuple[int, ...]]:
    """Every non-empty set of ``n_models`` models (0: the collaborative one), the
    default first: the collaborative model with the first ``alone`` model."""
    default = tuple(range(min(n_models, 2)))
    every = [
        combo
        for size in range(1, n_models + 1)
        for combo in itertools.combinations(range(n_models), size)
    ]
    return [default, *(combo for combo in every if combo != default)]


def _component(spec: Any, *, name: str) -> tuple[type[Recommender], dict[str, Any]]:
    """The class and parameters of a ``(name, params)`` pair; a ValueError naming ``name``."""
    if isinstance(spec, str | bytes) or not isinstance(spec, Sequence) or len(spec) != 2:
        raise ValueError(f"{name} must be a (name, params) pair, got {spec!r}.")
    component, params = spec
    klass = recommender_class(component) if component in registered_names() else None
    if klass is None or klass.uses_social:
        # Only the error lists every algorithm, and so imports them all.
        known = ", ".join(sorted(n for n, c in registered().items() if not c.uses_social))
        raise ValueError(f"Unknown {name} {component!r}; choose from: {known}.")
    if not isinstance(params, dict):
        raise ValueError(f"Parameters of {name} {component!r} must be a dict.")
    return klass, dict(params)


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


def mixed_quality(
    base: np.ndarray,
    votes: np.ndarray,
    tie_break: np.ndarray,
    grid: Sequence[float],
    relevant: sp.csr_matrix,
    k: int,
    *,
    best: np.ndarray,
    floor: np.ndarray,
) -> np.ndarray:
    """NDCG@k of each weight of ``grid`` in the blend's mix: (len(grid), rows).

    A row with votes is ranked by ``base + weight * votes / max + tie_break``, one
    without (or at weight 0) by ``base``. ``best`` and ``floor``: :func:`top_rows` of
    ``base`` and of ``base + tie_break`` at ``k``. Votes only lift an item, so a row's
    top ``k`` is among the floor's items and its voted items. Only those that score at
    least the lowest of ``k`` known items (the floor, or the top ``k`` of the weight
    before, whichever bound is higher) are ranked, not the whole catalog.
    """
    quality = np.empty((len(grid), base.shape[0]))
    quality[:] = ndcg_per_user(best, relevant, k)
    peak = votes.max(axis=1)
    lifted = np.flatnonzero(peak > 0)
    if not lifted.size:
        return quality
    scaled, base = votes[lifted] / peak[lifted, None], base[lifted]  # the rows with votes
    floor = floor[lifted]
    floor_base = np.take_along_axis(base, floor, axis=1)
    floor_scaled = np.take_along_axis(scaled, floor, axis=1)
    floor_tie = tie_break[floor]
    # Voted items the row can rank, and the floor's other items (each item once).
    rows, items = np.nonzero((scaled > 0) & np.isfinite(base))
    voted_base, voted_scaled, voted_tie = base[rows, items], scaled[rows, items], tie_break[items]
    plain_rows, plain_at = np.nonzero((floor_scaled <= 0) | ~np.isfinite(floor_base))
    plain_items = floor[plain_rows, plain_at]
    relevant = relevant[lifted]
    top = floor
    for w, weight in enumerate(grid):
        if weight <= 0:
            continue
        floor_mixed = floor_base + weight * floor_scaled + floor_tie
        # The k items of the weight before are a row's k best here, or below them.
        before = np.take_along_axis(base, top, axis=1) + weight * np.take_along_axis(
            scaled, top, axis=1
        )
        before += tie_break[top]
        bound = np.maximum(floor_mixed.min(axis=1), before.min(axis=1))
        mixed = voted_base + weight * voted_scaled + voted_tie
        keep = mixed >= bound[rows]
        plain_mixed = floor_mixed[plain_rows, plain_at]
        plain_keep = plain_mixed >= bound[plain_rows]
        entry_rows = np.concatenate([rows[keep], plain_rows[plain_keep]])
        order = np.argsort(entry_rows, kind="stable")
        top = top_of_entries(
            entry_rows[order],
            np.concatenate([items[keep], plain_items[plain_keep]])[order],
            np.concatenate([mixed[keep], plain_mixed[plain_keep]])[order],
            lifted.size,
            floor.shape[1],
        )
        quality[w, lifted] = ndcg_per_user(top, relevant, k)
    return quality


def unit_rows(scores: np.ndarray) -> np.ndarray:
    """Each row shifted and scaled so its median is 0 and its maximum 1.

    Unlike a z-score this does not depend on how many items tie at the bottom: a row of
    social votes (a few voted items, the rest 0) keeps its voted items between 0 and 1,
    on the same scale as a collaborative row's best items. Non-finite entries get the
    row's finite minimum.
    """
    scores = finite_rows(scores)
    middle = np.median(scores, axis=1, keepdims=True)
    span = scores.max(axis=1, keepdims=True) - middle
    return ((scores - middle) / np.where(span > 1e-12, span, 1.0)).astype(np.float32)


def agreement(votes: np.ndarray, history: sp.csr_matrix) -> np.ndarray:
    """Share of each row's own items that the row's voters also have (0 without items).

    Friends who already shared much of a user's past are likelier to share their
    future: the blend gives such users a weight of their own.
    """
    history = sp.csr_matrix(history)
    counts = np.diff(history.indptr)
    rows = np.repeat(np.arange(history.shape[0]), counts)
    hits = np.bincount(rows, weights=votes[rows, history.indices] > 0, minlength=history.shape[0])
    return hits / np.maximum(counts, 1)


def _mean_columns(values: np.ndarray, columns: np.ndarray) -> np.ndarray:
    """Row means of ``values[:, columns]``; NaN where no column is chosen."""
    if not columns.any():
        return np.full(values.shape[0], np.nan)
    return values[:, columns].mean(axis=1)


def aligned_times(
    interactions: sp.csr_matrix, timestamps: sp.csr_matrix | None
) -> sp.csr_matrix | None:
    """The time of each pair of ``interactions``, on its sparsity pattern (NaN: unknown).

    None without timestamps. Entry ``i`` of the result's ``data`` is the time of entry
    ``i`` of ``interactions.data`` once its indices are sorted.
    """
    if timestamps is None or not timestamps.nnz:
        return None
    times = sp.csr_matrix(interactions, dtype=np.float64, copy=True)
    times.sort_indices()
    rows = np.repeat(np.arange(times.shape[0]), np.diff(times.indptr))
    stamps = np.asarray(sp.csr_matrix(timestamps)[rows, times.indices], np.float64).ravel()
    # NaN, not 0, for an unknown time: a pruned copy must keep the pair.
    times.data = np.where(stamps > 0, stamps, np.nan)
    return times


def holdout_pairs(
    interactions: sp.csr_matrix,
    keys: np.ndarray,
    *,
    fraction: float,
    per_user: bool,
    fold: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Masks over ``interactions.data`` of the pairs fold ``fold`` holds out and trains on.

    ``keys`` order the pairs (their times, or a random draw). Fold 0 holds out the
    newest ``fraction``, fold 1 the ``fraction`` before it, and so on; each fold trains
    on the pairs older than its held-out ones, as time would have it. ``per_user``:
    within each user with >= 2 pairs, slices of ceil(fraction) of their pairs;
    otherwise slices of all pairs (a global time split).
    """
    if not per_user:
        upper = np.quantile(keys, 1.0 - fold * fraction) if fold else np.inf
        lower = np.quantile(keys, max(1.0 - (fold + 1) * fraction, 0.0))
        return (keys > lower) & (keys <= upper), keys <= lower
    counts = np.diff(interactions.indptr)
    rows = np.repeat(np.arange(counts.size), counts)
    order = np.lexsort((keys, rows))
    rank = np.empty(rows.size, dtype=np.int64)
    rank[order] = np.arange(rows.size) - interactions.indptr[rows[order]]
    held = np.where(counts >= 2, np.ceil(fraction * counts), 0).astype(np.int64)[rows]
    newer = counts[rows] - rank  # 1 for a user's newest pair
    return (newer > fold * held) & (newer <= (fold + 1) * held), newer > (fold + 1) * held


def holdout_keys(
    ordered: sp.csr_matrix, times: sp.csr_matrix | None, rng: np.random.Generator
) -> np.ndarray:
    """What orders the pairs of ``ordered`` (sorted indices) for :func:`holdout_pairs`:
    their times (aligned with them; unknown: the oldest), or without times a random
    draw of ``rng``."""
    return np.nan_to_num(times.data) if times is not None else rng.random(ordered.nnz)


def holdout_fold(
    ordered: sp.csr_matrix, keys: np.ndarray, *, fraction: float, per_user: bool, fold: int = 0
) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """Fold ``fold`` of :func:`holdout_pairs`: the pairs it trains on, the new items it
    holds out (an item the user had before is not new), and the mask of the trained
    pairs over ``ordered.data``."""
    held, older = holdout_pairs(ordered, keys, fraction=fraction, per_user=per_user, fold=fold)
    earlier = _keep(ordered, older)
    return earlier, holdout_new_items(earlier, _keep(ordered, held)), older


def _keep(matrix: sp.csr_matrix, mask: np.ndarray) -> sp.csr_matrix:
    """``matrix`` (sorted indices) with only the entries of ``mask``."""
    kept = matrix.copy()
    kept.data = np.where(mask, kept.data, 0).astype(kept.dtype)
    kept.eliminate_zeros()
    return kept


class SocialBlendRecommender(SocialRecommender, name="social_blend"):
    """A collaborative model mixed with social votes at weights learned on held-out pairs.

    For a user with votes, the score is ``unit(collaborative) + weight * votes / max``
    (``unit``: the row's median at 0, its best item at 1, see :func:`unit_rows`) plus a
    tie-break by popularity; in a segment whose weight is 0, the collaborative score
    unchanged. A user without votes gets the sum of the :func:`unit_rows` of non-social
    models: nothing social is mixed in where there is nothing social. Cold
    users (at most ``cold_items`` items of their own) get a weight of their own, since
    friends say more about someone with no history. With
    timestamps, a friend's item can count ``exp(-|t - t_user| / scale)`` times, ``t_user``
    being the user's newest item (the end of training for a user folded in): what
    friends liked while the user was active says more than what they liked years apart.

    The weights and the time scale are those of ``grid`` and ``recency_grid`` that give
    the best NDCG@k, on the users with votes, pooled over ``validation_folds`` folds of
    held-out pairs, each fitted on the pairs older than its own (and, with
    ``confidence``, a weight beats 0 only clearly): ``"per_user"``, each user's newest
    ``validation_fraction``, the slice before it, ...; ``"time"``, the newest
    ``validation_fraction`` of all pairs, the slice before it, ... Too few such users,
    and ``default_weight`` is used and ``fallback_`` says why; too few cold ones, and
    the cold users share the warm weight.

    Parameters
    ----------
    collaborative : (name, params) pair
        The collaborative recommender (registered name and parameters). One that
        refuses the catalog (EASE above its ``max_items``) is replaced by
        ``LARGE_CATALOG_COLLABORATIVE``, and ``fallback_`` says so.
    alone : sequence of (name, params) pairs, or one pair, optional
        More non-social recommenders for the users without votes. Their scores are the
        sum of the :func:`unit_rows` of the set of models - the collaborative one and
        these - that gives the best NDCG@k to the users without relations held out in
        the first validation fold; the collaborative model and the first ``alone``
        model when fewer than ``min_validation_users`` such users hold out new items.
        Which model suits users on their own differs from shop to shop (EASE,
        user-kNN and ALS each win on some public data). None: the collaborative model
        alone.
    hops, decay, taste_smoothing, max_neighbours
        The social votes, as in :class:`SocialTrustRecommender`.
    weight : float, optional
        A fixed weight of the votes for every user: nothing is held out (and no
        recency unless ``recency_grid`` holds a single scale).
    default_weight : float
        The weight when validation has too few users.
    cold_items : int
        Users with at most this many items of their own are cold.
    grid : sequence of float
        Candidate weights of the validation.
    recency_grid : sequence of float or None
        Candidate time scales (days) of the votes; None counts every vote fully.
        Without timestamps, None is used.
    validation : {"per_user", "time"}
        How the validation holds pairs out.
    validation_fraction : float
        Share of the pairs each fold holds out (between 0 and 1).
    validation_folds : int
        Folds pooled at most: more validation users, and periods further back; no
        fold is added once ``ENOUGH_FOLDS`` folds' worth of users (as many as
        ``max_validation_users`` allows per fold) are pooled.
    min_validation_users : int
        Users with votes and held-out new items (summed over folds) a weight needs.
    max_validation_users : int
        Validation users scored at most per fold (a seeded sample beyond); fewer on
        catalogs so large that their dense scores would exceed ``VALIDATION_CELLS``
        (as :class:`~recommendations.engine.blend.BlendRecommender`'s).
    confidence : float, optional
        A weight other than 0 is chosen only when the paired bootstrap interval, at
        this confidence, of its per-user gain over weight 0 is above 0; None: the best
        weight on the validation, however small its lead.
    gate : bool
        Also learn a per-user gate (:mod:`~recommendations.engine.social_gate`): a
        ridge regression over features of each user (people followed, history length,
        being cold, agreement, days since their newest item, overlap of the collaborative top
        ``k`` with the voted items, voted items) predicting the validation NDCG of each
        weight of ``grid``; each user with votes then gets the weight of best
        prediction. It replaces the segment weights only when, fitted without each
        validation fold and judged on it, it clearly beats them (as ``confidence``
        says).
    gate_penalty : float
        Ridge penalty of the gate per validation user (on standardised features).
    k : int
        Cut-off of the NDCG maximised.
    random_state : int
        Seed of the samples.

    Attributes
    ----------
    collaborative_ : Recommender
        The collaborative model fitted on every pair.
    alone_models_ : list of Recommender
        The ``alone`` models chosen, fitted on every pair (each with its
        :meth:`~Recommender.variants` best on the validation fold).
    alone_collaborative_ : bool
        Whether the collaborative model's scores are part of the sum.
    alone_choice_ : str
        The names of the models summed, joined by ``+``.
    alone_validation_ : ndarray of float64
        Validation NDCG@k of every set of models (:func:`alone_combinations` order, -1
        for a set with a model that refused the catalog); empty when not measured.
    social_ : scipy.sparse.csr_matrix of shape (n_users, n_users)
        Who follows whom.
    weight_ : float
        Weight of the scaled votes for users with more than ``cold_items`` items (at
        most ``agreement_threshold_`` of them shared by their voters).
    cold_weight_ : float
        Weight of the scaled votes for cold users.
    agreed_weight_ : float
        Weight for the other users with more than ``cold_items`` items: those whose
        voters already have a larger share of their items than
        ``agreement_threshold_`` (see :func:`agreement`).
    agreement_threshold_ : float
        The median agreement of the warm validation users; infinite (one warm weight)
        when the weights were not learned, too few users were on either side, or the
        two weights did not clearly beat one on the validation.
    recency_days_ : float or None
        Time scale of the votes in days (None: every vote counts fully).
    times_ : scipy.sparse.csr_matrix or None
        When each training pair happened, kept only when ``recency_days_`` is set.
    now_ : float
        The newest training time: the reference of a user folded in.
    item_prior_ : ndarray of float32
        Popularity of the items scaled to [0, 1], the tie-break.
    validation_ndcg_ : float or None
        NDCG@k of the chosen weights on the validation users.
    validation_curve_ : ndarray of shape (len(grid), 3)
        Mean validation NDCG@k of each weight at the chosen time scale, for warm, cold
        and agreed users (NaN where a segment had no user).
    fallback_ : str or None
        Why a weight was not learned, and whether ``collaborative`` refused the catalog
        (EASE above its ``max_items``) and ``LARGE_CATALOG_COLLABORATIVE`` replaced it
        (None: neither).
    gate_ : ndarray of shape (len(GATE_FEATURES) + 1, len(grid)) or None
        The per-user gate (see :func:`~recommendations.engine.social_gate.fit_gate`);
        None when it was not asked for or did not clearly beat the segment weights.
        When set, it chooses every user's weight among ``gate_weights_``.
    gate_weights_ : ndarray of float32
        The weights the gate chooses from (the grid; empty without a gate).
    gate_validation_ndcg_ : float or None
        NDCG@k on the validation users of the gate fitted without each one's fold (to
        compare with ``validation_ndcg_``), whether the gate was kept or not; None when
        no gate was tried.
    last_seen_ : ndarray of float64 or None
        Each user's newest training time (NaN: unknown), the gate's *idle* feature;
        None without a gate (not kept when nothing reads it).
    """

    def __init__(
        self,
        *,
        collaborative: tuple[str, dict[str, Any]] = ("ease", {}),
        alone: Sequence[tuple[str, dict[str, Any]]] | tuple[str, dict[str, Any]] | None = (
            DEFAULT_ALONE
        ),
        hops: int = 2,
        decay: float = 0.1,
        taste_smoothing: float | None = 0.1,
        max_neighbours: int = 200,
        weight: float | None = None,
        default_weight: float = 0.2,
        cold_items: int = 2,
        grid: Sequence[float] = DEFAULT_GRID,
        recency_grid: Sequence[float | None] = DEFAULT_RECENCY_GRID,
        validation: str = "per_user",
        validation_fraction: float = 0.1,
        validation_folds: int = 5,
        min_validation_users: int = 20,
        max_validation_users: int = 3000,
        confidence: float | None = 0.9,
        gate: bool = True,
        gate_penalty: float = 0.1,
        k: int = 20,
        random_state: int = 0,
    ) -> None:
        self.collaborative = collaborative
        self.alone = alone
        self.hops = hops
        self.decay = decay
        self.taste_smoothing = taste_smoothing
        self.max_neighbours = max_neighbours
        self.weight = weight
        self.default_weight = default_weight
        self.cold_items = cold_items
        self.grid = grid
        self.recency_grid = recency_grid
        self.validation = validation
        self.validation_fraction = validation_fraction
        self.validation_folds = validation_folds
        self.min_validation_users = min_validation_users
        self.max_validation_users = max_validation_users
        self.confidence = confidence
        self.gate = gate
        self.gate_penalty = gate_penalty
        self.k = k
        self.random_state = random_state

    def _check_blend_params(self) -> tuple[list[float], list[float | None]]:
        """Validate the parameters; the weight and time scale grids."""
        self._check_social_params()
        check_non_negative(self.default_weight, "default_weight")
        check_non_negative(self.cold_items, "cold_items")
        grid = [check_non_negative(w, "grid") for w in self.grid]
        scales = [
            None if days is None else check_non_negative(days, "recency_grid")
            for days in self.recency_grid
        ]
        if any(days == 0 for days in scales):
            raise ValueError("recency_grid scales must be above 0 days (None: no recency).")
        fraction = check_non_negative(self.validation_fraction, "validation_fraction")
        if not 0 < fraction < 1:
            raise ValueError(f"validation_fraction must be between 0 and 1, got {fraction!r}.")
        if self.validation not in VALIDATIONS:
            raise ValueError(
                f"validation must be one of {', '.join(VALIDATIONS)}, got {self.validation!r}."
            )
        check_positive_int(self.validation_folds, "validation_folds")
        check_positive_int(self.k, "k")
        check_positive_int(self.max_validation_users, "max_validation_users")
        check_non_negative(self.min_validation_users, "min_validation_users")
        check_non_negative(self.gate_penalty, "gate_penalty")
        if not grid:
            raise ValueError("grid must hold at least one weight.")
        if not scales:
            raise ValueError("recency_grid must hold at least one scale (None: no recency).")
        if self.confidence is not None:
            confidence = check_non_negative(self.confidence, "confidence")
            if not 0 < confidence < 1:
                raise ValueError(f"confidence must be between 0 and 1, got {confidence!r}.")
        return grid, scales

    def _fit(self, interactions, *, user_features, item_features, timestamps, social) -> None:
        grid, scales = self._check_blend_params()
        klass, params = _component(self.collaborative, name="collaborative")
        features = {"user_features": user_features, "item_features": item_features}
        self._store_social(social)
        times = aligned_times(interactions, timestamps)
        if times is None:
            scales = [None]
        self.validation_ndcg_, self.fallback_ = None, None

        def fitted(model: type[Recommender], model_params: dict[str, Any]) -> Recommender:
            return model(**model_params).fit(interactions, timestamps=timestamps, **features)

        # Fitted first: a model that refuses the catalog does so before any validation
        # fold, and the folds then use the model that replaces it.
        try:
            self.collaborative_ = fitted(klass, params)
        except CatalogTooLargeError as exc:
            if klass.name == LARGE_CATALOG_COLLABORATIVE[0]:
                raise
            refused = klass.name
            klass, params = _component(LARGE_CATALOG_COLLABORATIVE, name="collaborative")
            self.collaborative_ = fitted(klass, params)
            self._explain(f"{refused} refused the catalog ({exc}); {klass.name} instead")
        self.validation_curve_ = np.zeros((0, 3), dtype=np.float32)
        self.recency_days_ = scales[0] if len(scales) == 1 else None
        self.agreement_threshold_ = float("inf")
        self.gate_, self.gate_weights_ = None, np.zeros(0, dtype=np.float32)
        self.gate_validation_ndcg_ = None
        components = self._alone_components(klass)
        rng = np.random.default_rng(self.random_state)
        ordered = sp.csr_matrix(interactions, copy=True)
        ordered.sort_indices()
        keys = holdout_keys(ordered, times, rng)
        alone_fold = self._alone_fold(ordered, keys, times) if components else None
        alone_base = alone_scores = None
        # The alone models' fits on the fold run beside the weights' folds; these threads
        # already use every core, and BLAS threads of their own would wait on each other.
        with ThreadPoolExecutor(max_workers=1) as side, threadpool_limits(1, user_api="blas"):
            alone_fits = None
            if alone_fold is not None:
                alone_fits = side.submit(
                    contextvars.copy_context().run,
                    self._alone_fold_scores,
                    components,
                    alone_fold,
                    features,
                )
            if self.weight is not None:
                self.weight_ = self.cold_weight_ = check_non_negative(self.weight, "weight")
                self.agreed_weight_ = self.weight_
            elif not self.social_.nnz:
                self.weight_ = self.cold_weight_ = self.agreed_weight_ = 0.0
                self._explain("no social relations: every user is scored as one without votes")
            else:
                alone_users = alone_fold[2] if alone_fold is not None else None
                alone_base = self._learn_weights(
                    klass, params, ordered, keys, rng, times, features, grid, scales, alone_users
                )
            if alone_fits is not None:
                alone_scores = alone_fits.result()
        self.times_ = times if self.recency_days_ is not None else None
        self.now_ = float(np.nanmax(times.data, initial=0.0)) if times is not None else 0.0
        self.last_seen_ = _row_max(times) if times is not None and self.gate_ is not None else None
        popularity = np.diff(interactions.tocsc().indptr).astype(np.float32)
        self.item_prior_ = popularity / max(float(popularity.max(initial=0.0)), 1.0)
        chosen = self._choose_alone(
            klass, params, components, alone_fold, alone_base, alone_scores, features
        )
        self.alone_models_ = []
        for alone, alone_params in chosen:
            try:
                self.alone_models_.append(fitted(alone, alone_params))
            except CatalogTooLargeError as exc:
                self._explain(f"{alone.name} refused the catalog ({exc}): not an alone model")
        if not self.alone_models_:
            self.alone_collaborative_ = True
        names = [klass.name] if self.alone_collaborative_ else []
        self.alone_choice_ = "+".join([*names, *(m.name for m in self.alone_models_)])

    def _alone_components(self, collaborative: type[Recommender]) -> list[tuple[type, dict]]:
        """The ``alone`` models' classes and parameters, less the collaborative model's
        class (the same model twice would add nothing)."""
        if self.alone is None:
            return []
        specs = [self.alone] if _is_pair(self.alone) else list(self.alone)
        components = [_component(spec, name="alone") for spec in specs]
        return [(klass, params) for klass, params in components if klass is not collaborative]

    def _alone_fold(
        self, ordered: sp.csr_matrix, keys: np.ndarray, times: sp.csr_matrix | None
    ) -> AloneFold | None:
        """The first validation fold's pairs, their times, and its users without
        relations who have pairs and hold out new items (a seeded sample), with those
        items: where the models for users without votes are compared. None when fewer
        than ``min_validation_users`` (at least 1) such users."""
        earlier, target, older = holdout_fold(
            ordered,
            keys,
            fraction=float(self.validation_fraction),
            per_user=self.validation == "per_user",
        )
        lonely = np.diff(self.social_.indptr) == 0
        users = np.flatnonzero(
            (np.diff(target.indptr) > 0) & (np.diff(earlier.indptr) > 0) & lonely
        )
        limit = min(validation_limit(self.max_validation_users, ordered.shape[1]), ALONE_USERS)
        if users.size > limit:
            # A generator of its own: the weights' folds draw the same users as before.
            rng = np.random.default_rng([int(self.random_state), 1])
            users = np.sort(rng.choice(users, size=limit, replace=False))
        if users.size < max(float(self.min_validation_users), 1.0):
            return None
        earlier_times = _keep(times, older) if times is not None else None
        return earlier, earlier_times, users, target[users]

    def _alone_fold_scores(
        self, components: list[tuple[type, dict]], fold: AloneFold, features: dict[str, Any]
    ) -> list[tuple[np.ndarray | None, dict[str, Any]]]:
        """Each ``alone`` model fitted on ``fold``: its :meth:`_fold_base` of the fold's
        users (None: it refused the catalog) and its parameters. A model that would
        choose among :meth:`~Recommender.variants` on pairs it holds out is instead
        fitted with each, and the one that ranks the fold's users best kept: one fit
        fewer, and chosen on the users it is for."""
        earlier, earlier_times, users, relevant = fold
        k = int(self.k)
        measured: list[tuple[np.ndarray | None, dict[str, Any]]] = []
        with progress_silenced():
            for component, params in components:
                best: tuple[float, np.ndarray | None, dict[str, Any]] = (-1.0, None, params)
                for variant in component(**params).variants():
                    try:
                        model = component(**variant).fit(
                            earlier, timestamps=earlier_times, **features
                        )
                    except CatalogTooLargeError:
                        break
                    scores = self._fold_base(model, earlier, users)
                    quality = float(ranked_ndcg(scores, relevant, k).mean())
                    if quality > best[0]:
                        best = (quality, scores, variant)
                measured.append(best[1:])
        return measured

    def _choose_alone(
        self,
        klass: type[Recommender],
        params: dict[str, Any],
        components: list[tuple[type, dict]],
        fold: AloneFold | None,
        base: np.ndarray | None,
        measured: list[tuple[np.ndarray | None, dict[str, Any]]] | None,
        features: dict[str, Any],
    ) -> list[tuple[type, dict]]:
        """The ``alone`` models to fit (with their best variants), and whether the
        collaborative model is summed with them (``alone_collaborative_``): the set of
        best NDCG@k on ``fold``'s users. ``base``: the collaborative model's
        :meth:`_fold_base` of them (None: fitted here); ``measured``: the
        :meth:`_alone_fold_scores` of ``components``."""
        combinations = alone_combinations(1 + len(components))
        self.alone_validation_ = np.zeros(0)
        self.alone_collaborative_ = True
        if fold is None or measured is None:
            return [components[i - 1] for i in combinations[0][1:]]
        earlier, earlier_times, users, relevant = fold
        if base is None:
            with progress_silenced():
                model = klass(**params).fit(earlier, timestamps=earlier_times, **features)
            base = self._fold_base(model, earlier, users)
        scores = [base, *(fold_scores for fold_scores, _ in measured)]
        chosen = [(klass, params)]
        chosen += [(c, p) for (c, _), (_, p) in zip(components, measured, strict=True)]
        k = int(self.k)
        quality = np.full(len(combinations), -1.0)
        for c, combination in enumerate(combinations):
            parts = [scores[i] for i in combination]
            if all(part is not None for part in parts):
                summed = np.sum(parts, axis=0)
                quality[c] = float(ranked_ndcg(summed, relevant, k).mean())
        self.alone_validation_ = quality
        # argmax takes the first of equals: the default before the others.
        best = combinations[int(np.argmax(quality))]
        self.alone_collaborative_ = 0 in best
        return [chosen[i] for i in best if i]

    def _explain(self, reason: str) -> None:
        """Add ``reason`` to ``fallback_``."""
        self.fallback_ = reason if self.fallback_ is None else f"{self.fallback_}; {reason}"

    def _fold_quality(
        self,
        model: Recommender,
        earlier: sp.csr_matrix,
        earlier_times: sp.csr_matrix | None,
        users: np.ndarray,
        relevant: sp.csr_matrix,
        grid: list[float],
        scales: list[float | None],
        *,
        votes: list[np.ndarray] | None = None,
        base: np.ndarray | None = None,
        fold: int = 0,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """NDCG@k of ``users`` per (time scale, weight): (len(scales), len(grid), users);
        the users' :func:`agreement`; their gate features per time scale:
        (len(scales), users, len(GATE_FEATURES)). ``votes`` and ``base``: those of
        :meth:`_fold_votes` and :meth:`_fold_base`, when already computed; ``fold``: the
        fold's number (folds may be measured at once, in any order)."""
        if base is None:
            base = self._fold_base(model, earlier, users)
        popularity = np.diff(earlier.tocsc().indptr).astype(np.float32)
        tie_break = POPULARITY_TIE_BREAK * popularity / max(float(popularity.max(initial=0)), 1.0)
        social, history = csr_rows(self.social_, users), earlier[users]
        quality = np.zeros((len(scales), len(grid), users.size))
        agreed = np.zeros(users.size)
        features = np.zeros((len(scales), users.size, len(GATE_FEATURES)))
        idle = np.zeros(users.size)
        if earlier_times is not None:
            newest = float(np.nanmax(earlier_times.data, initial=0.0))
            idle = (newest - _row_max(earlier_times[users])) / SECONDS_PER_DAY
        k = int(self.k)
        best, floor = top_rows(base, k), top_rows(base + tie_break[None, :], k)
        # One time scale's votes at a time unless given: (users, n_items) each.
        per_scale = votes
        if per_scale is None:
            per_scale = (self._scale_votes(earlier, earlier_times, users, days) for days in scales)
        for s, votes in enumerate(per_scale):
            # Which items have a vote does not depend on the time scale.
            agreed = agreement(votes, history)
            if self.gate:
                features[s] = gate_features(
                    base,
                    votes,
                    followed=np.diff(social.indptr),
                    history=np.diff(history.indptr),
                    cold_items=int(self.cold_items),
                    agreed=agreed,
                    idle_days=idle,
                    k=k,
                    top=best,
                )
            quality[s] = mixed_quality(
                base, votes, tie_break, grid, relevant, k, best=best, floor=floor
            )
        return quality, agreed, features

    @staticmethod
    def _fold_base(model: Recommender, earlier: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
        """The collaborative scores of ``users`` as :func:`unit_rows`, own items at -inf."""
        base = unit_rows(model._score_users(users))
        base[earlier[users].nonzero()] = -np.inf
        return base

    def _scale_votes(
        self,
        earlier: sp.csr_matrix,
        earlier_times: sp.csr_matrix | None,
        users: np.ndarray,
        days: float | None,
    ) -> np.ndarray:
        """The votes for ``users`` from the pairs of ``earlier``, decayed at ``days``
        (None: not) from each user's newest time: (users, n_items) float32."""
        recency = None
        if days is not None and earlier_times is not None:
            reference = np.nan_to_num(_row_max(earlier_times[users]))
            recency = (earlier_times, reference, float(days))
        social, history = csr_rows(self.social_, users), earlier[users]
        return self._votes(social, history, users, liked=earlier, recency=recency)

    def _fold_votes(
        self,
        earlier: sp.csr_matrix,
        earlier_times: sp.csr_matrix | None,
        users: np.ndarray,
        scales: list[float | None],
    ) -> list[np.ndarray]:
        """:meth:`_scale_votes` of every time scale."""
        return [self._scale_votes(earlier, earlier_times, users, days) for days in scales]

    def _learn_weights(
        self,
        klass: type[Recommender],
        params: dict[str, Any],
        ordered: sp.csr_matrix,
        keys: np.ndarray,
        rng: np.random.Generator,
        times: sp.csr_matrix | None,
        features: dict[str, Any],
        grid: list[float],
        scales: list[float | None],
        alone_users: np.ndarray | None = None,
    ) -> np.ndarray | None:
        """Set the weights (warm, cold, agreed), the agreement threshold and the time
        scale with the best NDCG@k on held-out pairs (``ordered``: the pairs with sorted
        indices, ``keys``: their :func:`holdout_keys`). Return the first fold's
        :meth:`_fold_base` of ``alone_users``, when that fold was measured: its fit
        serves the choice of the models for users without votes too."""
        followers = np.diff(self.social_.indptr) > 0
        n_items = ordered.shape[1]
        limit = validation_limit(self.max_validation_users, n_items)
        plans, pooled = [], 0
        for fold in range(int(self.validation_folds)):
            if pooled >= ENOUGH_FOLDS * limit:
                break
            earlier, target, older = holdout_fold(
                ordered,
                keys,
                fraction=float(self.validation_fraction),
                per_user=self.validation == "per_user",
                fold=fold,
            )
            users = np.flatnonzero((np.diff(target.indptr) > 0) & followers)
            if users.size > limit:
                users = np.sort(rng.choice(users, size=limit, replace=False))
            if users.size:
                earlier_times = _keep(times, older) if times is not None else None
                plans.append((fold, earlier, earlier_times, users, target[users]))
                pooled += users.size

        def measure(fold, earlier, earlier_times, users, relevant):
            # The caller's thread reports the folds' progress: a reporter may write to
            # the database, and fits inside the folds would report out of order.
            with progress_silenced():
                model = klass(**params).fit(earlier, timestamps=earlier_times, **features)
                measured = self._fold_quality(
                    model, earlier, earlier_times, users, relevant, grid, scales, fold=fold
                )
                alone = None
                if fold == 0 and alone_users is not None and alone_users.size:
                    alone = self._fold_base(model, earlier, alone_users)
                return *measured, alone

        # The folds are independent, and their work (fits, votes, rankings) is numpy,
        # scipy and BLAS that lets go of the GIL: two at once use both cores.
        measured = []
        with ThreadPoolExecutor(max_workers=FOLD_THREADS) as pool:
            running = [pool.submit(contextvars.copy_context().run, measure, *p) for p in plans]
            try:
                for done, each in enumerate(running, 1):
                    measured.append(each.result())
                    progress_report(done, len(running) + 1, "social validation folds")
            except BaseException:
                pool.shutdown(cancel_futures=True)  # the folds not started yet
                raise
        qualities, colds, agreements, gate_rows, groups = [], [], [], [], []
        alone_base = None
        for (fold, earlier, _, users, _), (quality, agreed, gated, alone) in zip(
            plans, measured, strict=True
        ):
            alone_base = alone if alone is not None else alone_base
            qualities.append(quality)
            agreements.append(agreed)
            gate_rows.append(gated)
            groups.append(np.full(users.size, fold))
            colds.append(np.diff(earlier.indptr)[users] <= int(self.cold_items))
        n_users = sum(cold.size for cold in colds)
        default = float(self.default_weight)
        if n_users < float(self.min_validation_users):
            self._explain(
                f"{n_users} user(s) with relations and held-out items, fewer than "
                f"min_validation_users={self.min_validation_users}: default_weight used"
            )
            self.weight_ = self.cold_weight_ = self.agreed_weight_ = default
            self.recency_days_ = None
            return alone_base
        quality = np.concatenate(qualities, axis=2)
        cold, agreed = np.concatenate(colds), np.concatenate(agreements)
        # The time scale whose best weight does best over everyone; then the weights.
        scale = int(np.argmax(quality.mean(axis=2).max(axis=1)))
        quality = quality[scale]
        enough = float(self.min_validation_users)
        overall = self._choose(quality, ~cold) if (~cold).any() else 0
        # Warm users split at their median agreement, each half with its weight, when
        # both halves have enough users and the split clearly beats one warm weight.
        threshold = float(np.median(agreed[~cold])) if (~cold).any() else float("inf")
        high = ~cold & (agreed > threshold)
        low = ~cold & ~high
        warm_choice = agreed_choice = overall
        if min(high.sum(), low.sum()) >= enough:
            warm_choice, agreed_choice = self._choose(quality, low), self._choose(quality, high)
        split = np.where(high, quality[agreed_choice], quality[warm_choice])[~cold]
        if (warm_choice, agreed_choice) != (overall, overall) and self._clearly_better(
            split, quality[overall, ~cold]
        ):
            self.agreement_threshold_ = threshold
        else:
            warm_choice = agreed_choice = overall
            low, high = ~cold, np.zeros_like(cold)
        cold_choice = overall
        if cold.sum() >= enough:
            cold_choice = self._choose(quality, cold)
        self.validation_curve_ = np.stack(
            [
                _mean_columns(quality, low),
                _mean_columns(quality, cold),
                _mean_columns(quality, high),
            ],
            axis=1,
        ).astype(np.float32)
        chosen = np.where(
            cold,
            quality[cold_choice],
            np.where(high, quality[agreed_choice], quality[warm_choice]),
        )
        self.validation_ndcg_ = float(chosen.mean())
        self.weight_, self.cold_weight_ = float(grid[warm_choice]), float(grid[cold_choice])
        self.agreed_weight_, self.recency_days_ = float(grid[agreed_choice]), scales[scale]
        if self.gate:
            self._learn_gate(
                quality,
                chosen,
                np.concatenate(gate_rows, axis=1)[scale],
                np.concatenate(groups),
                grid,
            )
        return alone_base

    def _learn_gate(
        self,
        quality: np.ndarray,
        chosen: np.ndarray,
        features: np.ndarray,
        groups: np.ndarray,
        grid: list[float],
    ) -> None:
        """Set ``gate_`` when a gate fitted without each fold clearly beats, on that
        fold, the NDCG ``chosen`` of the segment weights (chosen on every fold: the
        comparison favours them)."""
        self.gate_, self.gate_weights_ = None, np.zeros(0, dtype=np.float32)
        penalty = float(self.gate_penalty)
        users = np.arange(quality.shape[1])
        crossed = cross_fitted_choice(features, quality.T, groups, penalty)
        self.gate_validation_ndcg_ = float(quality[crossed, users].mean())
        if self._clearly_better(quality[crossed, users], chosen):
            self.gate_ = fit_gate(features, quality.T, penalty)
            self.gate_weights_ = np.asarray(grid, dtype=np.float32)

    def _after_load(self) -> None:
        # An artifact of an earlier social blend is served until the next training
        # replaces it: the first had one weight and a z-scored popularity, the second
        # no recency.
        if not hasattr(self, "cold_weight_"):
            self.cold_weight_ = self.weight_
            prior = self.item_prior_ - self.item_prior_.min(initial=0.0)
            self.item_prior_ = (prior / max(float(prior.max(initial=0.0)), 1e-12)).astype(
                np.float32
            )
        if not hasattr(self, "recency_days_"):
            self.recency_days_, self.times_, self.now_ = None, None, 0.0
        if not hasattr(self, "agreed_weight_"):
            self.agreed_weight_, self.agreement_threshold_ = self.weight_, float("inf")
        if not hasattr(self, "gate_"):
            self.gate_, self.gate_weights_, self.last_seen_ = None, np.zeros(0, np.float32), None
            self.gate_validation_ndcg_ = None
        if not hasattr(self, "alone_models_"):
            # One alone model (or none) always summed with the collaborative model.
            alone = getattr(self, "alone_", None)
            self.alone_models_ = [] if alone is None else [alone]
            self.alone_collaborative_ = True
            self.alone_validation_ = np.zeros(0)
            names = [self.collaborative_.name, *(m.name for m in self.alone_models_)]
            self.alone_choice_ = "+".join(names)
        self.__dict__.pop("alone_", None)
        # An artifact rewritten for a deletion before the times were dropped with the
        # user's row: its times no longer line up with the users, so they are not used.
        if self.times_ is not None and self.times_.shape[0] != self.n_users_:
            self.times_ = None

    def _clearly_better(self, new: np.ndarray, old: np.ndarray) -> bool:
        """Whether per-user NDCG ``new`` beats ``old``: by the bootstrap interval of the
        gain at ``confidence`` (a noisy lead keeps ``old``), else by the mean."""
        if self.confidence is None:
            return bool(new.mean() > old.mean())
        _, low, _ = paired_bootstrap(
            new, old, confidence=float(self.confidence), random_state=int(self.random_state)
        )
        return bool(low > 0)

    def _choose(self, quality: np.ndarray, users: np.ndarray) -> int:
        """Index in ``grid`` of the best weight for ``users`` (columns of ``quality``).

        With ``confidence`` set, a weight beats 0 only when the bootstrap interval of
        its per-user gain over weight 0 lies above 0: a noisy validation keeps the
        collaborative model.
        """
        best = int(np.argmax(quality[:, users].mean(axis=1)))
        zeros = [i for i, weight in enumerate(self.grid) if float(weight) == 0.0]
        if self.confidence is None or not zeros or best == zeros[0]:
            return best
        clear = self._clearly_better(quality[best, users], quality[zeros[0], users])
        return best if clear else zeros[0]

    def _mix_rows(
        self,
        base: np.ndarray,
        votes: np.ndarray,
        history: sp.csr_matrix,
        followed: np.ndarray,
        idle_days: np.ndarray,
        user_ids: np.ndarray | None = None,
    ) -> np.ndarray:
        """The mixed scores of rows with votes; ``user_ids`` (the rows' users, None for
        rows folded in) is for a subclass that reads more of a user than its row."""
        peak = votes.max(axis=1)
        agreed = agreement(votes, history)
        if self.gate_ is not None:
            weights = self._gate_weights(base, votes, history, followed, agreed, idle_days)
        else:
            cold = np.diff(history.indptr) <= int(self.cold_items)
            warm = np.where(
                agreed > self.agreement_threshold_,
                np.float32(self.agreed_weight_),
                np.float32(self.weight_),
            )
            weights = np.where(cold, np.float32(self.cold_weight_), warm)
        mixing = (peak > 0) & (weights > 0)
        if not mixing.any():
            return base
        mixed = base.copy()
        mixed[mixing] = (
            unit_rows(base[mixing])
            + weights[mixing, None] * votes[mixing] / peak[mixing, None]
            + np.float32(POPULARITY_TIE_BREAK) * self.item_prior_[None, :]
        )
        return mixed

    def _gate_weights(
        self,
        base: np.ndarray,
        votes: np.ndarray,
        history: sp.csr_matrix,
        followed: np.ndarray,
        agreed: np.ndarray,
        idle_days: np.ndarray,
    ) -> np.ndarray:
        """The gate's weight for each row with votes (0 for the others)."""
        weights = np.zeros(base.shape[0], dtype=np.float32)
        voted = np.flatnonzero(votes.max(axis=1) > 0)
        if not voted.size:
            return weights
        own = history[voted]
        masked = base[voted]
        masked[own.nonzero()] = -np.inf
        features = gate_features(
            masked,
            votes[voted],
            followed=followed[voted],
            history=np.diff(own.indptr),
            cold_items=int(self.cold_items),
            agreed=agreed[voted],
            idle_days=idle_days[voted],
            k=int(self.k),
        )
        weights[voted] = self.gate_weights_[gate_choice(features, self.gate_)]
        return weights

    def _recency(self, reference: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray, float] | None:
        if self.recency_days_ is None or self.times_ is None:
            return None
        return self.times_, reference, float(self.recency_days_)

    def _score_rows(self, rows: sp.csr_matrix, user_features) -> np.ndarray:
        # A history without relations: scored as a user without votes.
        base = super()._score_rows(rows, user_features)
        return self._with_alone(
            base, None, lambda model, alone: model._score_rows(rows[alone], user_features)
        )

    def _score_social_rows(self, rows, user_features, social) -> np.ndarray:
        base = np.asarray(self.collaborative_._score_rows(rows, user_features), np.float32)
        # A user folded in is judged at the end of training: their row has no times.
        recency = self._recency(np.full(rows.shape[0], self.now_))
        votes = self._votes(social, rows, None, recency=recency)
        followed = np.diff(sp.csr_matrix(social).indptr)
        mixed = self._mix_rows(base, votes, rows, followed, np.zeros(rows.shape[0]))
        return self._with_alone(
            mixed, votes, lambda model, alone: model._score_rows(rows[alone], user_features)
        )

    def _score_users(self, user_ids: np.ndarray) -> np.ndarray:
        base = np.asarray(self.collaborative_._score_users(user_ids), np.float32)
        history = csr_rows(self.interactions_, user_ids)
        reference = None
        if self.times_ is not None:
            reference = _row_max(csr_rows(self.times_, user_ids))
            reference = np.where(np.isfinite(reference), reference, self.now_)
        social = csr_rows(self.social_, user_ids)
        votes = self._votes(
            social,
            history,
            user_ids,
            recency=None if reference is None else self._recency(reference),
        )
        idle = np.zeros(user_ids.size)
        if self.last_seen_ is not None:
            idle = np.nan_to_num((self.now_ - self.last_seen_[user_ids]) / SECONDS_PER_DAY)
        mixed = self._mix_rows(base, votes, history, np.diff(social.indptr), idle, user_ids)
        return self._with_alone(
            mixed, votes, lambda model, alone: model._score_users(user_ids[alone])
        )

    def _with_alone(
        self,
        mixed: np.ndarray,
        votes: np.ndarray | None,
        score: Callable[[Recommender, np.ndarray], np.ndarray],
    ) -> np.ndarray:
        """``mixed`` whose rows without votes (every row when ``votes`` is None) are the
        sum of the :func:`unit_rows` of the models chosen for them: their own rows (the
        collaborative model's, when ``alone_collaborative_``) and those of
        ``alone_models_`` (``score(model, rows)``: a model's scores of those rows)."""
        if not self.alone_models_:
            return mixed
        if votes is None:
            alone = np.arange(mixed.shape[0])
        else:
            alone = np.flatnonzero(votes.max(axis=1, initial=0.0) <= 0)
        if not alone.size:
            return mixed
        mixed = mixed.copy()
        parts = [unit_rows(mixed[alone])] if self.alone_collaborative_ else []
        for model in self.alone_models_:
            parts.append(unit_rows(np.asarray(score(model, alone), np.float32)))
        mixed[alone] = np.sum(parts, axis=0)
        return mixed


def _row_max(times: sp.csr_matrix) -> np.ndarray:
    """The newest known time of each row; NaN for a row with none."""
    data = np.where(np.isfinite(times.data), times.data, -np.inf)
    filled = np.diff(times.indptr) > 0
    newest = np.full(times.shape[0], -np.inf)
    if filled.any():
        newest[filled] = np.maximum.reduceat(data, times.indptr[:-1][filled])
    return np.where(np.isfinite(newest), newest, np.nan)
