"""The social blend followed by an item-level re-ranker with social features.

The blend (:class:`~recommendations.engine.social.SocialBlendRecommender`) gives each
user one weight of their friends' votes. The re-ranker instead scores each candidate
item of a user with votes - the collaborative model's best items, the items most
voted for and the most popular around the user's time - by a logistic regression
over features of the pair: the collaborative score and rank, the votes and their
rank, the share of the people followed who voted, the item's popularity (overall and
around the user's time), the collaborative score from the user's newest items alone,
the user's history and relations, and products of these. It learns on the validation
folds the blend already holds out (the items each validation user took next are the
positives), and is kept only when, fitted without each fold and judged on it, it
clearly beats the blend there. Users without votes get the blend's scores, which
are non-social (see ``alone``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from recommendations.engine.base import csr_rows, import_object
from recommendations.engine.blend import RANKER_FIT
from recommendations.engine.interactions import SECONDS_PER_DAY
from recommendations.engine.metrics import paired_bootstrap
from recommendations.engine.social import (
    SocialBlendRecommender,
    _row_max,
    agreement,
    aligned_times,
    unit_rows,
)
from recommendations.engine.social_gate import cross_fitted_choice, ranked_ndcg, top_rows

#: The re-ranker's features of a (user, item) pair, in column order (see
#: :func:`pair_features`).
RERANK_FEATURES = (
    "blend",
    "base",
    "base_rank",
    "votes",
    "log_votes",
    "voted",
    "vote_rank",
    "vote_share",
    "popularity",
    "history",
    "followed",
    "cold",
    "agreement",
    "votes_x_cold",
    "votes_x_history",
    "votes_x_agreement",
    "votes_x_base_rank",
    "votes_x_popularity",
    "base_x_history",
    "popularity_30d",
    "popularity_365d",
    "votes_x_popularity_30d",
    "votes_x_popularity_365d",
    "newest",
    "newest_rank",
)
#: Time scales (days) of the popularity around a user's time.
NEAR_DAYS = (30.0, 365.0)
#: A user's newest items that make the *newest* feature.
NEWEST_ITEMS = 3
#: Width of the time bins of :func:`popularity_near`.
BIN_SECONDS = 30.0 * SECONDS_PER_DAY


def _in_top(scores: np.ndarray, n: int) -> np.ndarray:
    """Mask of each row's ``n`` best entries."""
    mask = np.zeros(scores.shape, dtype=bool)
    mask[np.arange(scores.shape[0])[:, None], top_rows(scores, n)] = True
    return mask


def candidates(
    base: np.ndarray, votes: Sequence[np.ndarray], n_base: int, n_voted: int
) -> np.ndarray:
    """Mask of each row's candidates: the ``n_base`` best finite entries of ``base`` and,
    for each matrix of ``votes``, the ``n_voted`` most voted items among those ``base``
    leaves open (finite)."""
    mask = _in_top(base, n_base)
    for each in votes:
        open_votes = np.where(np.isfinite(base), each, 0.0)
        voted = open_votes > 0
        # A row with at most n_voted voted items keeps them all: rank only the others.
        crowded = np.flatnonzero(np.count_nonzero(voted, axis=1) > n_voted)
        if crowded.size:
            voted[crowded] &= _in_top(open_votes[crowded], n_voted)
        mask |= voted
    return np.isfinite(base) & mask


def popular_candidates(
    base: np.ndarray, near: np.ndarray | None, popularity: np.ndarray, n: int
) -> np.ndarray:
    """Mask of each row's ``n`` most popular items that ``base`` leaves open: around the
    row's time (``near[0]``) when known, else overall."""
    if n <= 0:
        return np.zeros(base.shape, dtype=bool)
    scores = near[0] if near is not None else np.broadcast_to(popularity, base.shape)
    open_items = np.isfinite(base)
    return _in_top(np.where(open_items, scores, -np.inf), n) & open_items


def ranks_at(scores: np.ndarray, rows: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Rank of ``scores[rows, items]`` in its row (0: nothing above it), float64.

    ``rows`` must be sorted (as :func:`numpy.nonzero` gives them).
    """
    ranks = np.zeros(rows.size)
    ordered = np.sort(scores, axis=1)
    bounds = np.searchsorted(rows, np.arange(scores.shape[0] + 1))
    for row in np.flatnonzero(np.diff(bounds)):
        pairs = slice(bounds[row], bounds[row + 1])
        below = np.searchsorted(ordered[row], scores[row, items[pairs]], side="right")
        ranks[pairs] = scores.shape[1] - below
    return ranks


def newest_items(history: sp.csr_matrix, times: sp.csr_matrix, n: int) -> sp.csr_matrix:
    """Each row of ``history`` cut to its ``n`` newest items (``times`` on its pattern)."""
    history = sp.csr_matrix(history, copy=True)
    history.sort_indices()
    times = sp.csr_matrix(times, copy=True)
    times.sort_indices()
    rows = np.repeat(np.arange(history.shape[0]), np.diff(history.indptr))
    order = np.lexsort((-np.nan_to_num(times.data, nan=-np.inf), rows))
    rank = np.empty(rows.size, dtype=np.int64)
    rank[order] = np.arange(rows.size) - history.indptr[rows[order]]
    history.data = np.where(rank < n, history.data, 0).astype(history.dtype)
    history.eliminate_zeros()
    return history


def time_bins(times: sp.csr_matrix) -> tuple[np.ndarray, int]:
    """Users per (time bin, item) of ``times`` (NaN: unknown, left out) and the first bin."""
    times = sp.csr_matrix(times)
    known = np.isfinite(times.data)
    bins = np.floor(times.data[known] / BIN_SECONDS).astype(np.int64)
    first = int(bins.min(initial=0))
    counts = np.zeros((int(bins.max(initial=0)) - first + 1, times.shape[1]), np.float32)
    np.add.at(counts, (bins - first, times.indices[known]), 1.0)
    return counts, first


def popularity_near(counts: np.ndarray, first: int, reference: np.ndarray, days: float):
    """Each item's users weighted by ``exp(-|t - reference| / days)``, with ``t`` the
    centre of a 30-day bin of :func:`time_bins`: (rows, n_items) float32."""
    centres = (np.arange(counts.shape[0]) + first + 0.5) * BIN_SECONDS
    age = np.abs(centres[None, :] - np.asarray(reference, np.float64)[:, None])
    return np.exp(-age / (days * SECONDS_PER_DAY)).astype(np.float32) @ counts


@dataclass
class Pairs:
    """What the features of (user, item) pairs are made of, the votes for each time
    scale of the blend (``votes``, ``vote_rank``: one array per scale)."""

    rows: np.ndarray
    items: np.ndarray
    base: np.ndarray
    base_rank: np.ndarray
    votes: list[np.ndarray]
    vote_rank: list[np.ndarray]
    peak: list[np.ndarray]
    popularity: np.ndarray
    history: np.ndarray
    followed: np.ndarray
    agreed: np.ndarray
    near: np.ndarray
    newest: np.ndarray
    newest_rank: np.ndarray


def collect_pairs(
    base: np.ndarray,
    votes: list[np.ndarray],
    mask: np.ndarray,
    *,
    popularity: np.ndarray,
    history: sp.csr_matrix,
    followed: np.ndarray,
    near: np.ndarray | None,
    newest: np.ndarray | None,
) -> Pairs:
    """The :class:`Pairs` of ``mask``: ``base`` holds the unit-scaled collaborative
    scores with the users' own items at -inf, ``votes`` the raw votes per scale,
    ``near`` (len(NEAR_DAYS), rows, items) the popularity around each user's time,
    ``newest`` the unit-scaled scores of the newest items alone (None: no times)."""
    rows, items = np.nonzero(mask)
    open_votes = [np.where(np.isfinite(base), v, 0.0) for v in votes]
    zeros = np.zeros(rows.size)
    return Pairs(
        rows=rows,
        items=items,
        base=base[rows, items],
        base_rank=ranks_at(base, rows, items),
        votes=[v[rows, items] for v in votes],
        vote_rank=[ranks_at(v, rows, items) for v in open_votes],
        peak=[v.max(axis=1) for v in votes],
        popularity=np.asarray(popularity, np.float64)[items],
        history=np.diff(history.indptr),
        followed=np.asarray(followed),
        agreed=agreement(votes[0], history),
        near=np.zeros((len(NEAR_DAYS), rows.size)) if near is None else near[:, rows, items],
        newest=zeros if newest is None else newest[rows, items],
        newest_rank=zeros if newest is None else ranks_at(newest, rows, items),
    )


def pair_features(
    pairs: Pairs, scale: int, *, cold_items: int, n_items: int, weights: np.ndarray
) -> np.ndarray:
    """The features (len(RERANK_FEATURES) columns, float64) of ``pairs`` with the votes
    of time scale ``scale``; ``weights`` is each row's weight of the votes in the blend.
    Counts and ranks enter as logarithms."""
    rows = pairs.rows
    raw = np.asarray(pairs.votes[scale], np.float64)
    peak = pairs.peak[scale][rows]
    scaled = raw / np.where(peak > 0, peak, 1.0)
    voted = (raw > 0).astype(np.float64)
    b = np.asarray(pairs.base, np.float64)
    base_rank = np.log1p(pairs.base_rank)
    vote_rank = np.where(voted > 0, np.log1p(pairs.vote_rank[scale]), np.log1p(n_items))
    own = np.log1p(pairs.history[rows].astype(np.float64))
    people = pairs.followed[rows].astype(np.float64)
    cold = (pairs.history[rows] <= cold_items).astype(np.float64)
    agree = pairs.agreed[rows]
    pop = np.log1p(pairs.popularity)
    near = np.log1p(np.asarray(pairs.near, np.float64))
    return np.column_stack(
        [
            b + np.asarray(weights, np.float64)[rows] * scaled,
            b,
            base_rank,
            scaled,
            np.log1p(raw),
            voted,
            vote_rank,
            raw / np.maximum(people, 1.0),
            pop,
            own,
            np.log1p(people),
            cold,
            agree,
            scaled * cold,
            scaled * own,
            scaled * agree,
            scaled * base_rank,
            scaled * pop,
            b * own,
            *near,
            *(scaled * n for n in near),
            pairs.newest,
            np.log1p(pairs.newest_rank),
        ]
    )


def fit_reranker(features: np.ndarray, labels: np.ndarray, *, c: float) -> np.ndarray:
    """Weights of a logistic regression on standardised features, mapped back to the
    features as given: (n_features,). Scores ``features @ weights`` rank a user's
    candidates (the intercept is the same for all, so it is left out)."""
    mean = features.mean(axis=0)
    scale = features.std(axis=0)
    scale = np.where(scale > 1e-12, scale, 1.0)
    # Resolved here, as the blend resolves its ranker's: a process that only serves a
    # fitted re-ranker (its weights) never imports scikit-learn.
    weights = import_object(RANKER_FIT)((features - mean) / scale, labels, c=c)
    return (weights / scale).astype(np.float64)


@dataclass
class Fold:
    """One validation fold's candidate pairs, their labels and how the users are judged."""

    pairs: Pairs
    labels: np.ndarray
    voted: np.ndarray
    relevant: sp.csr_matrix
    n_items: int


class SocialRerankRecommender(SocialBlendRecommender, name="social_rerank"):
    """The social blend whose users with votes get their candidates re-ranked.

    Parameters
    ----------
    n_base : int
        Candidates from the collaborative model's best items.
    n_voted : int
        Candidates from the most voted items.
    n_popular : int
        Candidates from the items most popular around the user's time (overall without
        times): the re-ranker's popularity features can lift them.
    negatives : int
        Candidates without a held-out item sampled per validation user to fit on.
    rerank_c : float
        Inverse L2 penalty of the logistic regression.
    rerank_confidence : float, optional
        The re-ranker is kept only when the paired bootstrap interval, at this
        confidence, of its cross-fitted per-user gain over the blend is above 0; None:
        whenever its mean is ahead.
    **blend_params
        Those of :class:`~recommendations.engine.social.SocialBlendRecommender`.

    Attributes
    ----------
    rerank_weights_ : ndarray of float64, shape (len(RERANK_FEATURES),) or (0,)
        The re-ranker; empty when it did not clearly beat the blend on the folds.
    rerank_popular_ : int
        The ``n_popular`` the re-ranker learned with, and serves with (0 in an artifact
        of before that parameter).
    rerank_cold_, rerank_warm_ : bool
        Whether the cold users (at most ``cold_items`` items), the warm ones, are
        re-ranked: each only when the cross-fitted re-ranker clearly beats the blend
        on the validation users of its segment (``min_validation_users`` at least).
    rerank_validation_ndcg_ : float or None
        Validation NDCG@k with the re-ranker where it is kept, cross-fitted (None: not
        tried).
    rerank_cold_validation_ndcg_, rerank_warm_validation_ndcg_ : float or None
        The cross-fitted re-ranker's on the cold, the warm validation users.
    blend_validation_ndcg_ : float or None
        The blend's on the same users.
    item_counts_ : ndarray of float32
        Users per item in the training data.
    item_bins_ : ndarray of float32, shape (n_bins, n_items)
        Users per 30-day bin and item (empty without timestamps).
    first_bin_ : int
        The bin of ``item_bins_``'s first row.
    times_ : scipy.sparse.csr_matrix or None
        When each training pair happened (None without timestamps), kept whatever
        the blend's time scale.
    """

    def __init__(
        self,
        *,
        n_base: int = 100,
        n_voted: int = 100,
        n_popular: int = 50,
        negatives: int = 50,
        rerank_c: float = 0.01,
        rerank_confidence: float | None = 0.9,
        **blend_params: Any,
    ) -> None:
        super().__init__(**blend_params)
        self.n_base = n_base
        self.n_voted = n_voted
        self.n_popular = n_popular
        self.negatives = negatives
        self.rerank_c = rerank_c
        self.rerank_confidence = rerank_confidence

    @classmethod
    def _param_names(cls) -> list[str]:
        own = ["n_base", "n_voted", "n_popular", "negatives", "rerank_c", "rerank_confidence"]
        return [*SocialBlendRecommender._param_names(), *own]

    # -- learning on the blend's validation folds -------------------------------

    def _fold_quality(self, model, earlier, earlier_times, users, relevant, grid, scales, *, fold):
        # The votes of every time scale, computed once for the blend's quality and here.
        per_scale = self._fold_votes(earlier, earlier_times, users, scales)
        base = self._fold_base(model, earlier, users)
        result = super()._fold_quality(
            model,
            earlier,
            earlier_times,
            users,
            relevant,
            grid,
            scales,
            votes=per_scale,
            base=base,
        )
        history = earlier[users]
        popularity = np.diff(earlier.tocsc().indptr)
        near = newest = None
        if earlier_times is not None:
            own_times = earlier_times[users]
            counts, first = time_bins(earlier_times)
            reference = np.nan_to_num(_row_max(own_times))
            near = np.stack([popularity_near(counts, first, reference, d) for d in NEAR_DAYS])
            newest = self._newest_scores(model, newest_items(history, own_times, NEWEST_ITEMS))
            newest[~np.isfinite(base)] = -np.inf
        pairs = collect_pairs(
            base,
            per_scale,
            self._candidates(base, per_scale, near, popularity),
            popularity=popularity,
            history=history,
            followed=np.diff(self.social_[users].indptr),
            near=near,
            newest=newest,
        )
        labels = np.asarray(relevant[pairs.rows, pairs.items]).ravel() > 0
        voted = np.max(pairs.peak, axis=0) > 0
        self._measured[fold] = Fold(pairs, labels, voted, relevant, base.shape[1])
        return result

    def _candidates(self, base, votes, near, popularity) -> np.ndarray:
        """Mask of the re-ranked candidates of the rows of ``base``: :func:`candidates`
        of ``votes`` and the ``rerank_popular_`` :func:`popular_candidates`."""
        mask = candidates(base, votes, int(self.n_base), int(self.n_voted))
        return mask | popular_candidates(base, near, popularity, int(self.rerank_popular_))

    @staticmethod
    def _newest_scores(model, newest: sp.csr_matrix) -> np.ndarray:
        return unit_rows(np.asarray(model._score_rows(newest, None), np.float32))

    def _learn_gate(self, quality, chosen, features, groups, grid) -> None:
        super()._learn_gate(quality, chosen, features, groups, grid)
        self._blend_quality = chosen
        if self.gate_ is not None:
            crossed = cross_fitted_choice(features, quality.T, groups, float(self.gate_penalty))
            self._blend_quality = quality[crossed, np.arange(quality.shape[1])]

    def _fit(self, interactions, *, user_features, item_features, timestamps, social) -> None:
        self._measured: dict[int, Fold] = {}
        self._folds, self._blend_quality = [], None
        self.rerank_weights_ = np.zeros(0, dtype=np.float64)
        self.rerank_popular_ = int(self.n_popular)
        self.rerank_cold_ = self.rerank_warm_ = False
        self.rerank_cold_validation_ndcg_ = self.rerank_warm_validation_ndcg_ = None
        self.rerank_validation_ndcg_ = self.blend_validation_ndcg_ = None
        try:
            super()._fit(
                interactions,
                user_features=user_features,
                item_features=item_features,
                timestamps=timestamps,
                social=social,
            )
            # In the folds' order, as the blend pooled them (they may be measured at once).
            self._folds = [self._measured[fold] for fold in sorted(self._measured)]
            self.item_counts_ = np.diff(interactions.tocsc().indptr).astype(np.float32)
            # Kept whatever the blend's time scale: the features read them.
            self.times_ = aligned_times(interactions, timestamps)
            self.item_bins_, self.first_bin_ = np.zeros((0, 0), np.float32), 0
            if self.times_ is not None:
                self.item_bins_, self.first_bin_ = time_bins(self.times_)
            if self._blend_quality is not None and self._folds:
                self._learn_reranker()
        finally:
            self._measured, self._folds, self._blend_quality = {}, [], None

    def _scale_index(self) -> int:
        """Index of the blend's chosen time scale among the votes kept per fold."""
        if len(self._folds[0].pairs.votes) == 1:
            return 0
        scales = [None if d is None else float(d) for d in self.recency_grid]
        return scales.index(self.recency_days_)

    def _learn_reranker(self) -> None:
        """Set ``rerank_weights_`` when the cross-fitted re-ranker clearly beats the blend.

        Each fold is judged by a re-ranker fitted on the other folds; with one fold, each
        half of its users by one fitted on the other half.
        """
        scale = self._scale_index()
        rng = np.random.default_rng(self.random_state)
        parts, data = [], []
        for f, fold in enumerate(self._folds):
            features = pair_features(
                fold.pairs,
                scale,
                cold_items=int(self.cold_items),
                n_items=fold.n_items,
                weights=self._segment_weights(fold.pairs.history, fold.pairs.agreed),
            )
            negatives = max(int((~fold.labels).sum()), 1)
            share = min(1.0, float(self.negatives) * fold.voted.size / negatives)
            keep = fold.labels | (rng.random(fold.labels.size) < share)
            data.append((features, keep))
            users = np.arange(fold.voted.size)
            halves = [users % 2 == 0, users % 2 == 1] if len(self._folds) == 1 else [users >= 0]
            parts += [(f, half) for half in halves]
        blend = np.asarray(self._blend_quality, dtype=np.float64)
        crossed = blend.copy()
        starts = np.cumsum([0] + [fold.voted.size for fold in self._folds])
        for p, (f, judged) in enumerate(parts):
            fold = self._folds[f]
            weights = self._fit_on([part for q, part in enumerate(parts) if q != p], data)
            if weights is None:
                continue
            scores = np.full((fold.voted.size, fold.n_items), -np.inf)
            scores[fold.pairs.rows, fold.pairs.items] = data[f][0] @ weights
            quality = ranked_ndcg(scores, fold.relevant, int(self.k))
            replaced = judged & fold.voted
            crossed[starts[f] : starts[f + 1]][replaced] = quality[replaced]
        # Cold and warm users are judged apart, as the blend weighs them apart: friends
        # already count much for the cold ones, and a re-ranker can help one and not the other.
        cold = np.concatenate([fold.pairs.history <= int(self.cold_items) for fold in self._folds])
        segments = []
        for members in (cold, ~cold):
            enough = members.sum() >= float(self.min_validation_users)
            segments.append(
                bool(enough and self._rerank_clearly_better(crossed[members], blend[members]))
            )
        self.rerank_cold_, self.rerank_warm_ = segments
        chosen = np.where(np.where(cold, segments[0], segments[1]), crossed, blend)
        self.rerank_validation_ndcg_ = float(chosen.mean())
        self.rerank_cold_validation_ndcg_ = float(crossed[cold].mean()) if cold.any() else None
        self.rerank_warm_validation_ndcg_ = float(crossed[~cold].mean()) if (~cold).any() else None
        self.blend_validation_ndcg_ = float(blend.mean())
        if any(segments):
            weights = self._fit_on(parts, data)
            if weights is not None:
                self.rerank_weights_ = weights

    def _segment_weights(self, history: np.ndarray, agreed: np.ndarray) -> np.ndarray:
        """The blend's weight of the votes for each user (its segments; not the gate)."""
        warm = np.where(agreed > self.agreement_threshold_, self.agreed_weight_, self.weight_)
        return np.where(np.asarray(history) <= int(self.cold_items), self.cold_weight_, warm)

    def _rerank_clearly_better(self, new: np.ndarray, old: np.ndarray) -> bool:
        """Whether per-user NDCG ``new`` beats ``old`` by the bootstrap interval at
        ``rerank_confidence`` (None: by the mean)."""
        if self.rerank_confidence is None:
            return bool(new.mean() > old.mean())
        _, low, _ = paired_bootstrap(
            new, old, confidence=float(self.rerank_confidence), random_state=int(self.random_state)
        )
        return bool(low > 0)

    def _fit_on(self, parts: list[tuple[int, np.ndarray]], data: list) -> np.ndarray | None:
        """The re-ranker fitted on the sampled pairs of the users of ``parts``."""
        features, labels = [], []
        for f, users in parts:
            chosen = data[f][1] & users[self._folds[f].pairs.rows]
            features.append(data[f][0][chosen])
            labels.append(self._folds[f].labels[chosen])
        features, labels = np.concatenate(features), np.concatenate(labels)
        if labels.all() or not labels.any():
            return None
        return fit_reranker(features, labels, c=float(self.rerank_c))

    # -- serving ----------------------------------------------------------------

    def _after_load(self) -> None:
        super()._after_load()
        if not hasattr(self, "rerank_popular_"):
            self.rerank_popular_ = 0  # learned without popular candidates

    def _mix_rows(self, base, votes, history, followed, idle_days, user_ids=None) -> np.ndarray:
        """The blend's scores, the candidates of re-ranked users above the rest in the
        re-ranker's order. ``user_ids``: the rows' users (None: folded in, no times)."""
        mixed = super()._mix_rows(base, votes, history, followed, idle_days)
        cold = np.diff(sp.csr_matrix(history).indptr) <= int(self.cold_items)
        segment = np.where(cold, self.rerank_cold_, self.rerank_warm_)
        voted = np.flatnonzero((votes.max(axis=1) > 0) & segment)
        if not self.rerank_weights_.size or not voted.size:
            return mixed
        own = sp.csr_matrix(history)[voted]
        unit = unit_rows(base[voted])
        unit[own.nonzero()] = -np.inf
        votes = votes[voted]
        near = newest = None
        if self.times_ is not None:
            recent = own
            reference = np.full(voted.size, self.now_)
            if user_ids is not None:
                own_times = csr_rows(self.times_, user_ids[voted])
                known = _row_max(own_times)
                reference = np.where(np.isfinite(known), known, self.now_)
                recent = newest_items(own, own_times, NEWEST_ITEMS)
            near = np.stack(
                [
                    popularity_near(self.item_bins_, self.first_bin_, reference, d)
                    for d in NEAR_DAYS
                ]
            )
            newest = self._newest_scores(self.collaborative_, recent)
            newest[~np.isfinite(unit)] = -np.inf
        pairs = collect_pairs(
            unit,
            [votes],
            self._candidates(unit, [votes], near, self.item_counts_),
            popularity=self.item_counts_,
            history=own,
            followed=np.asarray(followed)[voted],
            near=near,
            newest=newest,
        )
        features = pair_features(
            pairs,
            0,
            cold_items=int(self.cold_items),
            n_items=int(base.shape[1]),
            weights=self._segment_weights(pairs.history, pairs.agreed),
        )
        scores = features @ self.rerank_weights_
        # Every candidate above every other item; the others keep the blend's order.
        block = mixed[voted].astype(np.float64)
        low = np.full(voted.size, np.inf)
        np.minimum.at(low, pairs.rows, scores)
        low = np.where(np.isfinite(low), low, 0.0)
        block = block - block.max(axis=1, keepdims=True) + low[:, None] - 1.0
        block[pairs.rows, pairs.items] = scores
        mixed = mixed.copy()
        mixed[voted] = block.astype(np.float32)
        return mixed
