"""A blend of several recommenders, combined as learned on a validation period.

The last ``validation_days`` of the training events are held out (or several such
periods, one before the other, with ``validation_folds``); a period ends at the latest
event whose preceding ``validation_days`` hold ``min_validation_users`` users, so an
empty stretch (old data, then a trickle of new events) does not empty it. Every
component is fitted on
the earlier pairs and scores the users who bought new items in the held-out period. As
in the test protocol, repeat purchases are not new items: a pair heavier than one event
whose latest time falls in a validation period stays in the history. Scores are
normalised per user (z-score over the catalog, or reciprocal rank), so components on
different scales mix fairly. Two combiners learn from those periods:

- ``"ranker"`` (default), a second stage: the candidates of a user are the union of the
  ``candidates`` best items of every component; a logistic regression learns, on the
  candidates of the validation users, which ones they bought, from the normalised
  component scores and the recent sales of the item (sales in the last 7 to 90 days
  before the period, their trend, days since the item's latest and earliest sale).
  Candidates are ranked by it, every other item below them.
- ``"linear"``: the weights of a linear mix that give the best mean NDCG@k on the
  held-out new items, found by coordinate search over a grid.

The components are then fitted again on all the events; the item features of the ranker
are computed at the latest training event.

How it validates follows how it will be used (``validation``): the periods above where
times are absolute unix times ("time"); where they are not (no ``timestamps``, order
numbers instead of dates, or one time for everything), or where the caller judges each
user at a different moment ("per_user"), each validation user's latest events (their
last ``PER_USER_HOLDOUT`` of pairs, whole orders: ties stay together) are held out,
and the components are fitted once on everything else.

The blend checks itself on those folds. The ranker is tried with and without the item
sales features (they help where everyone is judged at one moment, and mislead where
they are not); each variant is cross-fitted (learned on half of the validation users,
measured on the other half, and the other way round), so its NDCG is not measured on
what it learned from; each component alone is measured on the same users. A
combination is kept only when its gain over the best component is clear: the lower
bound of a paired bootstrap interval of the per-user gain above zero (a gain within the
noise of the folds did not carry over to the next month on The Complete Journey). The best
wins: when it is a component, the blend is that component alone and ``fallback_`` says
so. It also falls back when no fold holds enough users to learn from (to the first
component when nothing could be measured). A component that refuses the catalog as too
large (:class:`~recommendations.engine.ease.CatalogTooLargeError`, EASE above its
``max_items``) is left out, as ``dropped_`` says.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import scipy.sparse as sp

from recommendations.engine.base import (
    Recommender,
    excluded_items,
    import_object,
    recommender_class,
    registered_names,
)
from recommendations.engine.ease import CatalogTooLargeError
from recommendations.engine.itemknn import check_non_negative, check_positive_int
from recommendations.engine.metrics import ndcg_at_k, ndcg_per_user, paired_bootstrap
from recommendations.engine.progress import progress_report
from recommendations.engine.regression import theil_sen
from recommendations.engine.split import holdout_new_items, window_end

SECONDS_PER_DAY = 86_400.0

#: Components of the default blend: none of them needs item or user features. The
#: history of known users decays with a 120-day half-life (chosen on validation folds of
#: Online Retail, see benchmarks/README.md); RP3beta got no weight in any good mix there,
#: and the ranker without SVD matched the one with it on three folds at a quarter less
#: time per user. EASE reads one dense row of its weights per history item, most of the
#: blend's time for a heavy buyer: it scores with the 100 most recent (0.0009 less NDCG
#: on the folds than 200, and a p99 under 1 ms with room to spare).
RECENCY_HALF_LIFE_DAYS = 120.0
EASE_MAX_HISTORY = 100
DEFAULT_COMPONENTS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "ease",
        {"recency_half_life_days": RECENCY_HALF_LIFE_DAYS, "max_history": EASE_MAX_HISTORY},
    ),
    ("item_knn", {"recency_half_life_days": RECENCY_HALF_LIFE_DAYS}),
    ("trending", {}),
)
# Validation scores are dense users x items matrices: cap their cells on large catalogs.
VALIDATION_CELLS = 20_000_000
DEFAULT_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
#: Fits the ranker's logistic regression; resolved when a blend is fitted, so ranking
#: with a fitted blend (its coefficients) never imports scikit-learn.
RANKER_FIT = "recommendations.engine.ranker.logistic_coefficients"
NORMALISATIONS = ("zscore", "rank")
COMBINERS = ("ranker", "linear")
VALIDATIONS = ("auto", "time", "per_user")
SALES_FEATURES = ("auto", True, False)
#: Share of each validation user's pairs held out by per-user validation, the latest.
PER_USER_HOLDOUT = 0.2
#: Times below this (1973-03-03 as a unix time) are order numbers or positions, not
#: dates: "auto" validation then holds out each user's latest events instead of a period.
ABSOLUTE_TIME_MIN = 1e8
#: Sales windows of the ranker's item features, in days before the latest event.
SALES_WINDOWS_DAYS = (7, 14, 30, 90)
#: A day's single-event weight is this quantile of its pairs' weights (a few lighter
#: pairs, views among purchases, do not make every purchase of the day a repeat) ...
SINGLE_EVENT_QUANTILE = 0.1
#: ... and a pair is a repeat above this multiple of it: a second event, however old,
#: adds more than 2% under any half-life of the training's decay over 100 days and a
#: history of up to two years, while one day's decay changes a weight by under 1%.
REPEAT_RATIO = 1.02
#: Days the line of single-event weights is fitted through at most.
THEIL_SEN_MAX_DAYS = 1_500
#: The self-check keeps a combination only when the lower bound of this two-sided
#: paired bootstrap interval of its gain over the best component is above zero (a 95%
#: one-sided bound): on The Complete Journey the ranker's gain over its EASE on its own
#: folds was within the noise (0.0448 against 0.0434), and on the next month it lost
#: to EASE (0.0438 against 0.0474).
CLEAR_GAIN_CONFIDENCE = 0.9
# Days since the latest and earliest sale of an item nobody bought: "very long ago".
NEVER_SOLD_DAYS = 10_000.0


def finite_rows(scores: np.ndarray) -> np.ndarray:
    """``scores`` as float32 with each non-finite entry replaced by its row's finite minimum."""
    scores = np.asarray(scores, dtype=np.float32)
    infinite = ~np.isfinite(scores)
    if infinite.any():
        floor = np.where(infinite, np.inf, scores).min(axis=1, keepdims=True)
        floor[~np.isfinite(floor)] = 0.0
        scores = np.where(infinite, floor, scores)
    return scores


def standardise_rows(scores: np.ndarray) -> np.ndarray:
    """Z-score each row over its finite entries; non-finite entries get the row minimum."""
    scores = finite_rows(scores)
    # Plain passes (mean, centre, sum of squares): np.std makes more temporaries, and
    # this runs for every component at every request.
    centred = scores - scores.mean(axis=1, keepdims=True)
    spread = np.sqrt(np.einsum("ij,ij->i", centred, centred) / max(scores.shape[1], 1))
    spread[spread <= 1e-12] = 1.0
    centred /= spread[:, None]
    return centred


def rank_rows(scores: np.ndarray, offset: float = 20.0) -> np.ndarray:
    """Reciprocal rank of each entry in its row, ``1 / (offset + rank)`` (rank 1 is best)."""
    scores = np.asarray(scores, dtype=np.float32)
    safe = np.where(np.isfinite(scores), scores, -np.inf)
    order = np.argsort(-safe, axis=1, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, scores.shape[1] + 1)[None, :], axis=1)
    return (1.0 / (offset + ranks)).astype(np.float32)


def _top_k_rows(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the ``k`` best entries of every row, best first."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, part, axis=1), axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1)


def item_time_features(interactions: sp.csr_matrix, timestamps: sp.csr_matrix) -> np.ndarray:
    """Recent sales of every item at the latest event: (n_items, 9) float64.

    Columns: ``log1p`` of the buyers whose latest purchase of the item is at most 7, 14,
    30 and 90 days old, and of all its buyers; the trends ``log((n14 + 1) / (n90 + 1))``
    and ``log((n30 + 1) / (n_all + 1))``; ``log1p`` of the days since the latest and the
    earliest of those purchases (a new product has a recent earliest sale).
    """
    stamps = sp.csc_matrix(timestamps.multiply(interactions > 0))
    stamps.eliminate_zeros()
    n_items = interactions.shape[1]
    buyers = np.diff(stamps.indptr).astype(np.float64)
    columns = np.repeat(np.arange(n_items), np.diff(stamps.indptr))
    now = float(stamps.data.max()) if stamps.nnz else 0.0
    age_days = (now - stamps.data) / SECONDS_PER_DAY
    recent = {
        days: np.bincount(
            columns, weights=(age_days <= days).astype(np.float64), minlength=n_items
        )
        for days in SALES_WINDOWS_DAYS
    }
    since_latest = np.full(n_items, NEVER_SOLD_DAYS)
    since_earliest = np.full(n_items, NEVER_SOLD_DAYS)
    sold = buyers > 0
    starts = stamps.indptr[:-1][sold]
    since_latest[sold] = (now - np.maximum.reduceat(stamps.data, starts)) / SECONDS_PER_DAY
    since_earliest[sold] = (now - np.minimum.reduceat(stamps.data, starts)) / SECONDS_PER_DAY
    return np.column_stack(
        [np.log1p(recent[days]) for days in SALES_WINDOWS_DAYS]
        + [
            np.log1p(buyers),
            np.log((recent[14] + 1.0) / (recent[90] + 1.0)),
            np.log((recent[30] + 1.0) / (buyers + 1.0)),
            np.log1p(since_latest),
            np.log1p(since_earliest),
        ]
    )


def repeated_pairs(interactions: sp.csr_matrix, timestamps: sp.csr_matrix | None) -> sp.csr_matrix:
    """1 where a pair weighs more than one event at its latest time: several events.

    Comparing with the lightest pair of all fails where the training decays its weights
    by age: an old single purchase is lighter than a recent one, so every recent pair
    looks like a repeat. Decay is exponential, so the log weight of one event is a
    straight line in time: it is fitted (Theil-Sen, robust to days of repeats only)
    through each day's light pairs (the :data:`SINGLE_EVENT_QUANTILE` of the day's log
    weights, so a few lighter views do not set it), and a pair above
    :data:`REPEAT_RATIO` times the line is a repeat. Without decay the line is flat at
    one event's weight. Without times (or on a single day) the reference is the
    lightest pair, as before. Returns a float32 matrix in the storage order of
    ``interactions``.
    """
    interactions = sp.csr_matrix(interactions)
    weights = np.log(np.maximum(interactions.data.astype(np.float64), 1e-30))
    days = np.zeros(weights.size)
    if timestamps is not None and weights.size:
        rows = np.repeat(np.arange(interactions.shape[0]), np.diff(interactions.indptr))
        times = np.asarray(timestamps[rows, interactions.indices], dtype=np.float64).ravel()
        days = np.floor(times / SECONDS_PER_DAY)
    reference = np.full(weights.size, weights.min() if weights.size else 0.0)
    unique_days = np.unique(days)
    if unique_days.size >= 3:
        order = np.lexsort((weights, days))
        sorted_days = days[order]
        starts = np.flatnonzero(np.r_[True, sorted_days[1:] != sorted_days[:-1]])
        counts = np.diff(np.r_[starts, sorted_days.size])
        light = weights[order][starts + np.floor(SINGLE_EVENT_QUANTILE * (counts - 1)).astype(int)]
        x = sorted_days[starts]
        if x.size > THEIL_SEN_MAX_DAYS:
            # Evenly spread days: all pairs of slopes grow with the square of the days.
            keep = np.linspace(0, x.size - 1, THEIL_SEN_MAX_DAYS).astype(int)
            x, light = x[keep], light[keep]
        slope, intercept = theil_sen(x - x[0], light)
        reference = intercept + slope * (days - x[0])
    repeated = (weights > reference + np.log(REPEAT_RATIO)).astype(np.float32)
    return sp.csr_matrix(
        (repeated, interactions.indices.copy(), interactions.indptr.copy()),
        shape=interactions.shape,
    )


def sales_features(interactions: sp.csr_matrix, timestamps: sp.csr_matrix | None) -> np.ndarray:
    """:func:`item_time_features`; without timestamps every purchase counts as "now"."""
    if timestamps is None:
        timestamps = sp.csr_matrix(interactions, dtype=np.float64, copy=True)
        timestamps.data[:] = 1.0
    return item_time_features(interactions, timestamps)


def candidate_pool(parts: Sequence[np.ndarray] | np.ndarray, candidates: int) -> np.ndarray:
    """Mask of the union of the ``candidates`` best entries of every score matrix.

    ``parts`` holds one (users, items) matrix per component, or is them stacked.
    Entries at -inf (the user's history) never become candidates.
    """
    stacked = np.asarray(parts)
    n_users, n_items = stacked.shape[1:]
    pool = np.zeros((n_users, n_items), dtype=bool)
    k = min(candidates, n_items)
    best = np.argpartition(-stacked, k - 1, axis=2)[..., :k]
    pool[np.arange(n_users)[None, :, None], best] = True
    pool &= np.isfinite(stacked[0])
    return pool


def _fit_component(
    klass: type[Recommender], params: dict[str, Any], interactions: sp.csr_matrix, **kwargs: Any
) -> Recommender:
    """A component fitted on ``interactions``; its errors say which component failed."""
    try:
        return klass(**params).fit(interactions, **kwargs)
    except CatalogTooLargeError as exc:
        refused = CatalogTooLargeError(f"blend component {klass.name!r}: {exc}")
        # Which spec refused, for the blend to go on without it.
        refused.params = params  # type: ignore[attr-defined]
        raise refused from exc
    except (TypeError, ValueError) as exc:
        raise ValueError(f"blend component {klass.name!r}: {exc}") from exc


class _Fold(NamedTuple):
    """What one validation period gives the combiners."""

    #: Raw scores of each component for the validation users, (users, items) each.
    scores: list[np.ndarray]
    #: (rows, columns) of the validation users' history in those matrices.
    seen: tuple[np.ndarray, np.ndarray]
    #: Their new items of the period, (users, items).
    relevant: sp.csr_matrix
    #: Item sales features at the start of the period (ranker only).
    items: np.ndarray | None


class _Pool(NamedTuple):
    """A fold prepared for the ranker: normalised scores and candidates of its users."""

    #: Normalised component scores, history floored, (components, users, items).
    parts: np.ndarray
    #: Candidates of each user, (users, items).
    pool: np.ndarray
    relevant: sp.csr_matrix
    items: np.ndarray

    def rows(self, users: np.ndarray) -> _Pool:
        """The same fold for some of its users."""
        return _Pool(self.parts[:, users], self.pool[users], self.relevant[users], self.items)


def _fold_rows(fold: _Fold, users: np.ndarray) -> _Fold:
    """``fold`` for some of its users (indices into its rows)."""
    position = np.full(fold.relevant.shape[0], -1, dtype=np.int64)
    position[users] = np.arange(users.size)
    rows, columns = fold.seen
    keep = position[rows] >= 0
    return _Fold(
        [scores[users] for scores in fold.scores],
        (position[rows[keep]], columns[keep]),
        fold.relevant[users],
        fold.items,
    )


def validation_limit(max_users: int, n_items: int) -> int:
    """Validation users scored at most: ``max_users``, fewer on a catalog so large that
    their dense scores (users x items) would exceed ``VALIDATION_CELLS``."""
    return min(int(max_users), max(100, VALIDATION_CELLS // n_items))


class BlendRecommender(Recommender, name="blend"):
    """Combine the normalised scores of several recommenders as learned on held-out events.

    Parameters
    ----------
    components : sequence of (name, params) pairs, optional
        Registered recommender names and their keyword arguments; by default
        :data:`DEFAULT_COMPONENTS` (EASE and item-kNN with time-decayed histories,
        and trending).
    combiner : {"ranker", "linear"}
        How the component scores are combined: a logistic regression over the
        candidates of the components with item sales features (see the module
        docstring), or a linear mix with searched weights.
    weights : sequence of float, optional
        Fixed weights of a linear mix, one per component: ``combiner`` is not learned,
        no validation period is carved and ``timestamps`` are not needed.
    candidates : int
        Ranker only: best items of every component that become candidates of a user.
    ranker_c : float
        Ranker only: inverse L2 penalty of the logistic regression (scikit-learn's ``C``).
    validation_days : float
        Length of the validation period at the end of the training events.
    grid : sequence of float
        Linear only: candidate weights of the coordinate search.
    passes : int
        Linear only: rounds of the coordinate search over all components.
    k : int
        Cut-off of the NDCG the weights maximise (and of ``validation_ndcg_``).
    max_validation_users : int
        Validation users scored at most (a deterministic subset beyond it); fewer on
        catalogs so large that their dense scores would exceed ``VALIDATION_CELLS``.
    validation_folds : int
        Consecutive validation periods of ``validation_days`` each; the ranker learns
        from all of them, the weights maximise their mean NDCG (each one costs a fit of
        every component). Time validation only: per-user validation fits once.
    min_validation_users : int
        Users with new items a validation period needs; a period with fewer is moved
        back to where the events are, or left out. With no period left, the blend is
        its best component alone.
    normalisation : {"zscore", "rank"}
        Per-user score normalisation before mixing: z-score over the catalog, or the
        reciprocal rank ``1 / (20 + rank)``.
    new_items_only : bool
        Treat a pair whose latest time is in a validation period but whose weight is
        above the lightest pair's (several events) as history, not as a new item.
    random_state : int
        Seed of the validation subset, of the per-user holdout when times do not order
        a user's pairs, and of the halves of the cross-fitting.
    validation : {"auto", "time", "per_user"}
        How the validation folds are carved: periods at the end of the events
        ("time"), or each validation user's latest events ("per_user", one fit of the
        components whatever ``validation_folds``). "auto" is "time" unless the
        timestamps are missing, all equal, or not unix times (all below
        :data:`ABSOLUTE_TIME_MIN`: order numbers). Say "per_user" when the blend
        will be judged on each user's latest events rather than on one period.
    sales_features : {"auto", True, False}
        Ranker only: use the item sales features; "auto" tries with and without and
        keeps the better on the folds.
    compare_components : bool
        Check the learned combination against each component alone on the folds
        (cross-fitted) and fall back to the best component when the combination
        does not beat it.

    Attributes
    ----------
    components_ : list of Recommender
        The components fitted on all the events (the linear mix keeps those of positive
        weight only).
    weights_ : ndarray of float32
        Weight of each normalised component score (the ranker's may be negative).
    item_prior_ : ndarray of float32 or None
        Ranker only: what each item's sales features add to its score.
    validation_ndcg_ : float or None
        Mean NDCG@k, over the validation users, of what the blend chose: the learned
        combination (cross-fitted: each half of the users scored by what the other half
        taught), or the component it fell back to.
    fallback_ : str or None
        Why the blend is one component alone instead of a learned combination; None
        when it learned one (or was given fixed weights).
    validation_ : str or None
        "time" or "per_user": how the folds were carved (None with fixed weights).
    sales_features_ : bool
        Whether the ranker uses the item sales features.
    selection_ : str or None
        JSON object of the NDCG@k each candidate scored on the folds: the ranker
        variants cross-fitted, each component alone.
    dropped_ : str or None
        The components left out because they refused the catalog, and why.
    """

    def __init__(
        self,
        *,
        components: Sequence[tuple[str, dict[str, Any]]] | None = None,
        combiner: str = "ranker",
        weights: Sequence[float] | None = None,
        candidates: int = 50,
        ranker_c: float = 1.0,
        validation_days: float = 30.0,
        grid: Sequence[float] = DEFAULT_GRID,
        passes: int = 2,
        k: int = 20,
        max_validation_users: int = 3000,
        validation_folds: int = 2,
        min_validation_users: int = 10,
        normalisation: str = "zscore",
        new_items_only: bool = True,
        random_state: int = 0,
        validation: str = "auto",
        sales_features: str | bool = "auto",
        compare_components: bool = True,
    ) -> None:
        self.components = components
        self.combiner = combiner
        self.weights = weights
        self.candidates = candidates
        self.ranker_c = ranker_c
        self.validation_days = validation_days
        self.grid = grid
        self.passes = passes
        self.k = k
        self.max_validation_users = max_validation_users
        self.validation_folds = validation_folds
        self.min_validation_users = min_validation_users
        self.normalisation = normalisation
        self.new_items_only = new_items_only
        self.random_state = random_state
        self.validation = validation
        self.sales_features = sales_features
        self.compare_components = compare_components

    # -- fitting --------------------------------------------------------------

    def _component_specs(self) -> list[tuple[type[Recommender], dict[str, Any]]]:
        specs = DEFAULT_COMPONENTS if self.components is None else self.components
        if isinstance(specs, str | bytes) or not specs:
            raise ValueError("components must be a non-empty sequence of (name, params) pairs.")
        names = registered_names()
        result = []
        for spec in specs:
            if isinstance(spec, str | bytes) or len(spec) != 2:
                raise ValueError(f"Each component must be a (name, params) pair, got {spec!r}.")
            name, params = spec
            if name == self.name or name not in names:
                known = ", ".join(n for n in names if n != self.name)
                raise ValueError(f"Unknown blend component {name!r}; choose from: {known}.")
            if not isinstance(params, dict):
                raise ValueError(f"Parameters of component {name!r} must be a dict.")
            result.append((recommender_class(name), dict(params)))
        return result

    def _fixed_weights(self, n_components: int) -> np.ndarray | None:
        if self.weights is None:
            return None
        weights = np.asarray(
            [check_non_negative(w, "weights") for w in self.weights], dtype=np.float32
        )
        if weights.size != n_components:
            raise ValueError(f"weights has {weights.size} values for {n_components} components.")
        if not weights.any():
            raise ValueError("weights must not all be zero.")
        return weights

    def _check_params(self) -> None:
        check_positive_int(self.k, "k")
        check_positive_int(self.passes, "passes")
        check_positive_int(self.max_validation_users, "max_validation_users")
        check_positive_int(self.candidates, "candidates")
        check_positive_int(self.min_validation_users, "min_validation_users")
        if check_non_negative(self.ranker_c, "ranker_c") == 0:
            raise ValueError("ranker_c must be positive.")
        if not isinstance(self.new_items_only, bool):
            raise ValueError(f"new_items_only must be True or False, got {self.new_items_only!r}.")
        if self.normalisation not in NORMALISATIONS:
            raise ValueError(
                f"normalisation must be one of {', '.join(NORMALISATIONS)}; "
                f"got {self.normalisation!r}."
            )
        if self.combiner not in COMBINERS:
            raise ValueError(
                f"combiner must be one of {', '.join(COMBINERS)}; got {self.combiner!r}."
            )
        for value in self.grid:
            check_non_negative(value, "grid")
        if self.validation not in VALIDATIONS:
            raise ValueError(
                f"validation must be one of {', '.join(VALIDATIONS)}; got {self.validation!r}."
            )
        if not any(self.sales_features is choice for choice in SALES_FEATURES[1:]) and (
            self.sales_features != "auto"
        ):
            raise ValueError(
                f"sales_features must be 'auto', True or False; got {self.sales_features!r}."
            )
        if not isinstance(self.compare_components, bool):
            raise ValueError(
                f"compare_components must be True or False, got {self.compare_components!r}."
            )

    def _fit(self, interactions, *, user_features, item_features, timestamps) -> None:
        specs = self._component_specs()
        weights = self._fixed_weights(len(specs))
        self._check_params()
        self.dropped_ = None
        fit_kwargs = {
            "user_features": user_features,
            "item_features": item_features,
            "timestamps": timestamps,
        }
        dropped = []
        while True:
            try:
                self._fit_specs(specs, weights, interactions, fit_kwargs)
                break
            except CatalogTooLargeError as exc:
                refusing = [
                    i for i, (_, p) in enumerate(specs) if p is getattr(exc, "params", None)
                ]
                if not refusing or len(specs) == 1:
                    raise
                index = refusing[0]
                # Go on without it, as a shop with a huge catalog would: say so.
                dropped.append(str(exc))
                del specs[index]
                if weights is not None:
                    weights = np.delete(weights, index)
                    if not weights.any():
                        raise
        self.dropped_ = "; ".join(dropped) or None

    def _fit_specs(
        self,
        specs: list[tuple[type[Recommender], dict[str, Any]]],
        weights: np.ndarray | None,
        interactions: sp.csr_matrix,
        fit_kwargs: dict[str, Any],
    ) -> None:
        """Learn the combination of ``specs`` (unless ``weights`` are fixed), fit them all."""
        self.validation_ndcg_ = None
        self.item_prior_ = None
        self.fallback_ = None
        self.validation_ = None
        self.sales_features_ = False
        self.selection_ = None
        timestamps = fit_kwargs["timestamps"]
        # Progress: a fit of every component per validation fold, then one on all events.
        folds_expected = 0 if weights is not None else int(self.validation_folds)
        if weights is None and self._validation_mode(timestamps) == "per_user":
            folds_expected = 1
        self._steps_done, self._steps_total = 0, len(specs) * (folds_expected + 1)
        if weights is None:
            self.validation_ = self._validation_mode(timestamps)
            if self.validation_ == "time":
                folds = self._validation_folds(specs, interactions, **fit_kwargs)
            else:
                fold = self._per_user_fold(specs, interactions, **fit_kwargs)
                folds = [] if fold is None else [fold]
            if not folds:
                self.fallback_ = (
                    f"no validation period of {self.validation_days:g} days holds "
                    f"{self.min_validation_users} users who bought new items after buying "
                    "before it"
                    if self.validation_ == "time"
                    else f"fewer than {self.min_validation_users} users have new items "
                    "among their latest events and earlier ones to learn from"
                )
                weights = self._fallback_weights(folds, len(specs))
            else:
                weights, item_weights = self._learn(folds, [klass.name for klass, _ in specs])
                if item_weights is not None:
                    # Every component proposes candidates, whatever its weight.
                    self.components_ = [
                        self._final_fit(klass, params, interactions, fit_kwargs)
                        for klass, params in specs
                    ]
                    self.weights_ = weights
                    self.item_prior_ = (
                        sales_features(interactions, timestamps) @ item_weights
                    ).astype(np.float32)
                    return
        self.components_ = [
            self._final_fit(klass, params, interactions, fit_kwargs)
            for (klass, params), weight in zip(specs, weights, strict=True)
            if weight > 0
        ]
        self.weights_ = weights[weights > 0].astype(np.float32)

    def _final_fit(
        self,
        klass: type[Recommender],
        params: dict[str, Any],
        interactions: sp.csr_matrix,
        fit_kwargs: dict[str, Any],
    ) -> Recommender:
        component = _fit_component(klass, params, interactions, **fit_kwargs)
        self._step_done(f"{klass.name} on all events")
        return component

    def _step_done(self, what: str) -> None:
        """Report one more component fit of the ones :meth:`_fit_specs` expects."""
        self._steps_done = getattr(self, "_steps_done", 0) + 1
        total = max(getattr(self, "_steps_total", 1), self._steps_done)
        progress_report(self._steps_done, total, what)

    def _validation_mode(self, timestamps: sp.csr_matrix | None) -> str:
        """ "time" or "per_user": ``validation``, or what the timestamps allow."""
        if self.validation != "auto":
            return self.validation
        if timestamps is None or timestamps.nnz == 0:
            return "per_user"
        latest, earliest = float(timestamps.data.max()), float(timestamps.data.min())
        if latest < ABSOLUTE_TIME_MIN or latest == earliest:
            return "per_user"
        return "time"

    def _component_quality(self, folds: list[_Fold]) -> np.ndarray:
        """NDCG@k of each component alone on every validation user: (components, users)."""
        k = int(self.k)
        per_user = []
        for index in range(len(folds[0].scores)):
            values = []
            for fold in folds:
                part = np.array(fold.scores[index], dtype=np.float32)
                part[fold.seen] = -np.inf
                values.append(ndcg_per_user(_top_k_rows(part, k), fold.relevant, k))
            per_user.append(np.concatenate(values))
        return np.vstack(per_user)

    def _fallback_weights(self, folds: list[_Fold], n_components: int) -> np.ndarray:
        """One-hot weights of the component with the best validation NDCG (else the first)."""
        weights = np.zeros(n_components, dtype=np.float32)
        if not folds:
            weights[0] = 1.0
            return weights
        quality = self._component_quality(folds).mean(axis=1)
        weights[int(np.argmax(quality))] = 1.0
        self.validation_ndcg_ = float(quality.max())
        return weights

    def _learn(self, folds: list[_Fold], names: list[str]) -> tuple[np.ndarray, np.ndarray | None]:
        """Choose on the folds between the combinations and each component alone.

        Returns the weights and, for the ranker, the item features' weights (None for a
        linear mix or a single component).
        """
        k = int(self.k)
        per_user = self._component_quality(folds)
        components = per_user.mean(axis=1)
        report: dict[str, float] = {}
        learned: dict[str, np.ndarray] = {}  # each combination's NDCG of every user
        splits = self._splits(folds)
        options: list[tuple[str, Any]] = []
        errors = []
        if self.combiner == "ranker":
            pools = [self._pool(fold) for fold in folds]
            choices = (True, False) if self.sales_features == "auto" else (self.sales_features,)
            for sales in choices:
                label = f"ranker {'with' if sales else 'without'} sales features"
                try:
                    learned[label] = self._cross_fitted_ranker(pools, splits, sales)
                except ValueError as exc:
                    errors.append(str(exc))
                    continue
                options.append((label, sales))
        else:
            learned["linear"] = self._cross_fitted_linear(folds, splits)
            options.append(("linear", None))
        report.update({label: float(values.mean()) for label, values in learned.items()})
        for name, value in zip(names, components, strict=True):
            report.setdefault(name, float(value))
        self.selection_ = json.dumps({key: round(v, 6) for key, v in report.items()})
        best_component = int(np.argmax(components))
        best = max(options, key=lambda option: report[option[0]], default=None)
        low = -np.inf
        if best is not None and self.compare_components:
            # A gain the folds cannot tell from noise is not worth a second stage that
            # may not carry over to the next period (see CLEAR_GAIN_CONFIDENCE).
            _, low, _ = paired_bootstrap(
                learned[best[0]],
                per_user[best_component],
                confidence=CLEAR_GAIN_CONFIDENCE,
                random_state=int(self.random_state),
            )
        if best is None or (self.compare_components and low <= 0.0):
            if best is None:
                self.fallback_ = errors[0] if errors else "no combination could be learned"
            else:
                self.fallback_ = (
                    f"its best component alone, {names[best_component]}, scored NDCG@{k} "
                    f"{components[best_component]:.4f} on the validation users, the "
                    f"{best[0]} {report[best[0]]:.4f}"
                    + (
                        f" (not clearly better: lower bound of the gain {low:+.4f})"
                        if report[best[0]] > components[best_component]
                        else ""
                    )
                )
            return self._fallback_weights(folds, len(names)), None
        self.validation_ndcg_ = float(report[best[0]])
        if self.combiner == "linear":
            weights = self._search_weights(folds)
            self.validation_ndcg_ = float(report[best[0]])
            return weights, None
        self.sales_features_ = bool(best[1])
        return self._learn_ranker(pools, self.sales_features_)

    def _splits(self, folds: list[_Fold]) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
        """How the combinations are cross-fitted: two random halves of the users of every
        fold, each measured by what the other taught; one array of row indices per
        fold, (learn, measure) for each side. Every validation user is measured once."""
        rng = np.random.default_rng(self.random_state)
        halves = []
        for fold in folds:
            order = rng.permutation(fold.relevant.shape[0])
            middle = order.size // 2
            halves.append((np.sort(order[:middle]), np.sort(order[middle:])))
        return [
            ([half[side] for half in halves], [half[1 - side] for half in halves])
            for side in (0, 1)
        ]

    def _cross_fitted_ranker(
        self,
        pools: list[_Pool],
        splits: list[tuple[list[np.ndarray], list[np.ndarray]]],
        sales: bool,
    ) -> float:
        """NDCG@k of the ranker of every validation user, learned on others (in the order
        of :meth:`_component_quality`)."""
        values = [np.zeros(pool.pool.shape[0]) for pool in pools]
        for learn, measure in splits:
            train = [pool.rows(rows) for pool, rows in zip(pools, learn, strict=True)]
            weights, item_weights = self._learn_ranker(
                [p for p in train if p.pool.shape[0]], sales
            )
            for index, (pool, rows) in enumerate(zip(pools, measure, strict=True)):
                if rows.size:
                    ndcg = self._ranker_ndcg(pool.rows(rows), weights, item_weights)
                    values[index][rows] = ndcg
        return np.concatenate(values)

    def _cross_fitted_linear(
        self, folds: list[_Fold], splits: list[tuple[list[np.ndarray], list[np.ndarray]]]
    ) -> float:
        """NDCG@k of the linear mix of every validation user, searched on others (in the
        order of :meth:`_component_quality`)."""
        k = int(self.k)
        values = [np.zeros(fold.relevant.shape[0]) for fold in folds]
        for learn, measure in splits:
            train = [
                _fold_rows(fold, rows)
                for fold, rows in zip(folds, learn, strict=True)
                if rows.size
            ]
            weights = self._search_weights(train)
            for index, (fold, rows) in enumerate(zip(folds, measure, strict=True)):
                if not rows.size:
                    continue
                test = _fold_rows(fold, rows)
                mixed = np.zeros_like(test.scores[0], dtype=np.float32)
                for weight, scores in zip(weights, test.scores, strict=True):
                    if weight:
                        mixed += weight * self._normalise(scores)
                mixed[test.seen] = -np.inf
                values[index][rows] = ndcg_per_user(_top_k_rows(mixed, k), test.relevant, k)
        return np.concatenate(values)

    def _pool(self, fold: _Fold) -> _Pool:
        """The ranker's view of a fold: normalised scores and candidates."""
        parts, pool = self._candidates(fold.scores, fold.seen)
        return _Pool(parts, pool, fold.relevant, fold.items)

    def _ranker_ndcg(
        self, pool: _Pool, weights: np.ndarray, item_weights: np.ndarray
    ) -> np.ndarray:
        """NDCG@k of every user of ``pool`` ranked by the ranker."""
        k = int(self.k)
        mixed = self._rank_candidates(pool.parts, pool.pool, weights, pool.items @ item_weights)
        return ndcg_per_user(_top_k_rows(mixed, k), pool.relevant, k)

    def _learn_ranker(self, pools: list[_Pool], sales: bool) -> tuple[np.ndarray, np.ndarray]:
        """Logistic regression of "bought" on the candidates' features.

        Returns the weights of the normalised component scores and of the item sales
        features (zeros without them).
        """
        features, labels = [], []
        for pool in pools:
            rows, items = np.nonzero(pool.pool)
            columns = [part[rows, items] for part in pool.parts]
            if sales:
                columns.append(pool.items[items])
            features.append(np.column_stack(columns))
            labels.append(np.asarray(pool.relevant[rows, items]).ravel() > 0)
        bought = np.concatenate(labels) if labels else np.zeros(0, dtype=bool)
        if bought.all() or not bought.any():
            raise ValueError(
                "The ranker needs bought and not-bought candidates in the validation "
                f"periods, and the best {self.candidates} items of the components hold "
                "only one kind: change candidates, or use combiner='linear'."
            )
        inputs = np.vstack(features)
        mean = inputs.mean(axis=0)
        scale = inputs.std(axis=0)
        scale[scale <= 1e-12] = 1.0
        fit = import_object(RANKER_FIT)
        # The standardisation folds into the weights; the intercept does not rank.
        coefficients = fit((inputs - mean) / scale, bought, c=float(self.ranker_c)) / scale
        n_components = pools[0].parts.shape[0]
        weights = coefficients[:n_components].astype(np.float32)
        item_weights = np.zeros(pools[0].items.shape[1])
        if sales:
            item_weights = coefficients[n_components:]
        return weights, item_weights

    def _validation_folds(
        self,
        specs: list[tuple[type[Recommender], dict[str, Any]]],
        interactions: sp.csr_matrix,
        *,
        user_features: sp.csr_matrix | None,
        item_features: sp.csr_matrix | None,
        timestamps: sp.csr_matrix | None,
    ) -> list[_Fold]:
        """The component scores and new items of the last ``validation_folds`` periods."""
        if timestamps is None:
            raise ValueError(
                "blend needs timestamps (latest unix time of each pair) to carve its "
                "validation period, or fixed weights."
            )
        days = check_non_negative(self.validation_days, "validation_days")
        n_folds = check_positive_int(self.validation_folds, "validation_folds")
        if days == 0:
            raise ValueError("validation_days must be positive when weights are not given.")
        if timestamps.nnz == 0:
            raise ValueError("timestamps is empty: no event time to carve validation from.")
        rows = np.repeat(np.arange(timestamps.shape[0]), np.diff(timestamps.indptr))
        first_seen = np.full(timestamps.shape[0], np.inf)
        np.minimum.at(first_seen, rows, timestamps.data)
        folds, before = [], None
        for _ in range(n_folds):
            end = window_end(
                rows,
                timestamps.data,
                days=days,
                min_users=int(self.min_validation_users),
                first_seen=first_seen,
                before=before,
            )
            if end is None:
                break
            start = end - days * SECONDS_PER_DAY
            fold = self._validation_fold(
                specs,
                interactions,
                timestamps,
                start=start,
                # The window's latest event counts: it ends just after it.
                end=float(np.nextafter(end, np.inf)),
                user_features=user_features,
                item_features=item_features,
            )
            before = start
            if fold is not None:
                folds.append(fold)
        return folds

    def _search_weights(self, folds: list[_Fold]) -> np.ndarray:
        """Weights of the linear mix maximising the mean NDCG@k over the folds."""
        k = int(self.k)
        normalised = []
        for fold in folds:
            parts = []
            for scores in fold.scores:
                part = self._normalise(scores)
                # Items already bought are never recommended: take them out of the ranking.
                part[fold.seen] = -np.inf
                parts.append(part)
            normalised.append((parts, fold.relevant))

        def quality(weights: np.ndarray) -> float:
            total = 0.0
            for scores, relevant in normalised:
                mixed = np.zeros_like(scores[0])
                for weight, part in zip(weights, scores, strict=True):
                    if weight:
                        mixed += weight * part
                total += ndcg_at_k(_top_k_rows(mixed, k), relevant, k)
            return total / len(normalised)

        n_components = len(folds[0].scores)
        weights = np.ones(n_components, dtype=np.float64)
        best = quality(weights)
        for _ in range(int(self.passes)):
            improved = False
            for index in range(n_components):
                for value in self.grid:
                    trial = weights.copy()
                    trial[index] = float(value)
                    if not trial.any() or trial[index] == weights[index]:
                        continue
                    score = quality(trial)
                    if score > best + 1e-9:
                        best, weights, improved = score, trial, True
            if not improved:
                break
        self.validation_ndcg_ = float(best)
        return weights.astype(np.float32)

    def _validation_fold(
        self,
        specs: list[tuple[type[Recommender], dict[str, Any]]],
        interactions: sp.csr_matrix,
        timestamps: sp.csr_matrix,
        *,
        start: float,
        end: float,
        user_features: sp.csr_matrix | None,
        item_features: sp.csr_matrix | None,
    ) -> _Fold | None:
        """Component scores and new items of the pairs last bought in [start, end).

        Components are fitted on the pairs last bought before ``start``; pairs last bought
        after ``end`` are left out of both, since their earlier events are not known.
        None when fewer than ``min_validation_users`` users bought new items in it.
        """
        window = timestamps.copy()
        window.data = ((window.data >= start) & (window.data < end)).astype(np.float32)
        window.eliminate_zeros()
        before = timestamps.copy()
        before.data = (before.data < start).astype(np.float32)
        before.eliminate_zeros()
        if self.new_items_only:
            # Only the latest time of a pair is known. A pair heavier than one event at its
            # time had several events, likely one before the window: it is history, not a
            # new item, as in the test protocol, where repeats never count.
            repeated = sp.csr_matrix(window.multiply(repeated_pairs(interactions, timestamps)))
            window = sp.csr_matrix(window - repeated)
            window.eliminate_zeros()
            before = sp.csr_matrix(before + repeated)
        earlier = sp.csr_matrix(interactions.multiply(before), dtype=np.float32)
        # Repeats keep a time just before the window, so time-aware components see no future.
        earlier_times = timestamps.copy()
        earlier_times.data = np.minimum(earlier_times.data, start - 1.0)
        earlier_times = sp.csr_matrix(earlier_times.multiply(before))
        validation = sp.csr_matrix(interactions.multiply(window), dtype=np.float32)
        target = holdout_new_items(earlier, validation)
        return self._scored_fold(
            specs,
            earlier,
            earlier_times,
            target,
            user_features=user_features,
            item_features=item_features,
        )

    def _scored_fold(
        self,
        specs: list[tuple[type[Recommender], dict[str, Any]]],
        earlier: sp.csr_matrix,
        earlier_times: sp.csr_matrix | None,
        target: sp.csr_matrix,
        *,
        user_features: sp.csr_matrix | None,
        item_features: sp.csr_matrix | None,
    ) -> _Fold | None:
        """The components fitted on ``earlier``, scoring the users with ``target`` items."""
        users = np.flatnonzero(np.diff(target.indptr) > 0)
        if users.size < int(self.min_validation_users):
            return None
        limit = validation_limit(self.max_validation_users, earlier.shape[1])
        if users.size > limit:
            rng = np.random.default_rng(self.random_state)
            users = np.sort(rng.choice(users, size=limit, replace=False))
        scores = []
        for klass, params in specs:
            component = _fit_component(
                klass,
                params,
                earlier,
                user_features=user_features,
                item_features=item_features,
                timestamps=earlier_times,
            )
            scores.append(np.asarray(component._score_users(users), dtype=np.float32))
            self._step_done(f"{klass.name} on a validation fold")
        items = sales_features(earlier, earlier_times) if self.combiner == "ranker" else None
        return _Fold(scores, earlier[users].nonzero(), target[users], items)

    def _per_user_fold(
        self,
        specs: list[tuple[type[Recommender], dict[str, Any]]],
        interactions: sp.csr_matrix,
        *,
        user_features: sp.csr_matrix | None,
        item_features: sp.csr_matrix | None,
        timestamps: sp.csr_matrix | None,
    ) -> _Fold | None:
        """Component scores and new items of each validation user's latest events.

        A validation user has at least two pairs and a latest time shared by fewer than
        all of them; their latest ``PER_USER_HOLDOUT`` of pairs is held out, with every
        pair at the same time as the earliest of those (a whole order). Without times
        to order anyone's pairs (none given, or one time for all) the held-out pairs
        are drawn at random. The components are fitted once, on every other pair.
        None when fewer than ``min_validation_users`` users have new items held out.
        """
        n_users = interactions.shape[0]
        lengths = np.diff(interactions.indptr)
        rows = np.repeat(np.arange(n_users), lengths)
        rng = np.random.default_rng(self.random_state)
        unordered_users = None
        if timestamps is None:
            times = rng.random(interactions.nnz)
        else:
            times = np.asarray(timestamps[rows, interactions.indices], dtype=np.float64).ravel()
            filled = lengths > 0
            starts = interactions.indptr[:-1][filled]
            spread = np.zeros(n_users)
            spread[filled] = np.maximum.reduceat(times, starts) - np.minimum.reduceat(
                times, starts
            )
            if np.all(spread[filled] == 0):
                # One time for everything: nothing orders anyone's pairs, draw them.
                times = rng.random(interactions.nnz)
            else:
                # A user whose pairs share one time (a single order) has no earlier
                # events to learn from: never a validation user.
                unordered_users = (spread == 0) & filled
        # Each user's pairs, latest first; the held-out ones reach back to the q-th.
        order = np.lexsort((-times, rows))
        first = interactions.indptr[:-1]
        wanted = np.maximum(1, np.ceil(PER_USER_HOLDOUT * lengths)).astype(np.int64)
        threshold = np.full(n_users, np.inf)
        filled = lengths > 0
        threshold[filled] = times[order[first[filled] + wanted[filled] - 1]]
        held = times >= threshold[rows]
        held_count = np.bincount(rows, weights=held, minlength=n_users)
        eligible = (lengths >= 2) & (held_count < lengths)
        if unordered_users is not None:
            eligible &= ~unordered_users
        eligible = np.flatnonzero(eligible)
        limit = validation_limit(self.max_validation_users, interactions.shape[1])
        if eligible.size > limit:
            eligible = np.sort(rng.choice(eligible, size=limit, replace=False))
        chosen = np.zeros(n_users, dtype=bool)
        chosen[eligible] = True
        held &= chosen[rows]
        if self.new_items_only and interactions.nnz:
            # As in the periods: a pair heavier than one event at its time had several.
            held &= repeated_pairs(interactions, timestamps).data == 0
        kept = ~held

        def with_values(values: np.ndarray) -> sp.csr_matrix:
            # Copies of the pattern: dropping the zeros must not touch the caller's matrix.
            matrix = sp.csr_matrix(
                (values, interactions.indices.copy(), interactions.indptr.copy()),
                shape=interactions.shape,
            )
            matrix.eliminate_zeros()
            return matrix

        earlier = with_values((interactions.data * kept).astype(np.float32))
        validation = with_values((interactions.data * held).astype(np.float32))
        earlier_times = None
        if timestamps is not None:
            stamps = np.asarray(timestamps[rows, interactions.indices], dtype=np.float64).ravel()
            # Repeats kept as history get a time before the user's cut: no future.
            cut = np.where(chosen[rows], threshold[rows] - 1.0, np.inf)
            earlier_times = with_values(np.where(kept, np.minimum(stamps, cut), 0.0))
        target = holdout_new_items(earlier, validation)
        return self._scored_fold(
            specs,
            earlier,
            earlier_times,
            target,
            user_features=user_features,
            item_features=item_features,
        )

    # -- scoring --------------------------------------------------------------

    def _normalise(self, scores: np.ndarray) -> np.ndarray:
        if self.normalisation == "rank":
            return rank_rows(scores)
        return standardise_rows(scores)

    def _candidates(
        self, scores: list[np.ndarray], seen: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Normalised scores without the history, (components, users, items), and the
        mask of the candidates."""
        excluded = excluded_items()
        # One stacked array: each step below is then one numpy call for all components,
        # which is most of the cost of ranking a single user.
        stacked = np.stack([np.asarray(part, dtype=np.float32) for part in scores])
        # The history is never recommended: it takes no candidate place, and nor do the
        # items the caller leaves out (blocked: out of stock, bought before ...).
        stacked[:, seen[0], seen[1]] = -np.inf
        if excluded is not None:
            stacked[:, :, excluded] = -np.inf
        pool = candidate_pool(stacked, int(self.candidates))
        normalised = self._normalise(stacked.reshape(-1, stacked.shape[2]))
        return normalised.reshape(stacked.shape), pool

    @staticmethod
    def _rank_candidates(
        parts: np.ndarray, pool: np.ndarray, weights: np.ndarray, prior: np.ndarray
    ) -> np.ndarray:
        """The ranker's scores, every item outside the pool below every candidate."""
        weights = np.asarray(weights, dtype=np.float32)
        mixed = (weights @ parts.reshape(weights.size, -1)).reshape(parts.shape[1:])
        mixed += prior.astype(np.float32)[None, :]
        # Candidates score from 1 up, every other item at most 0, each in the same order:
        # a caller that keeps positive scores only (the app) keeps the candidates.
        low = np.where(pool, mixed, np.inf).min(axis=1, keepdims=True)
        high = np.where(pool, -np.inf, mixed).max(axis=1, keepdims=True)
        low[~np.isfinite(low)] = 0.0
        high[~np.isfinite(high)] = 0.0
        return np.where(pool, mixed - low + 1.0, mixed - high)

    def _combine(
        self, scores: list[np.ndarray], seen: tuple[np.ndarray, np.ndarray]
    ) -> np.ndarray:
        if getattr(self, "item_prior_", None) is None:
            mixed = np.zeros_like(scores[0], dtype=np.float32)
            for weight, part in zip(self.weights_, scores, strict=True):
                mixed += weight * self._normalise(part)
            return mixed
        parts, pool = self._candidates(scores, seen)
        return self._rank_candidates(parts, pool, self.weights_, self.item_prior_)

    def _score_rows(self, rows: sp.csr_matrix, user_features) -> np.ndarray:
        return self._combine(
            [c._score_rows(rows, user_features) for c in self.components_], rows.nonzero()
        )

    def _score_users(self, user_ids: np.ndarray) -> np.ndarray:
        # The history cells straight from the CSR arrays: slicing a sparse matrix costs
        # more than the rest of the ranking for one user.
        indptr, indices = self.interactions_.indptr, self.interactions_.indices
        lengths = indptr[user_ids + 1] - indptr[user_ids]
        columns = np.concatenate(
            [indices[indptr[u] : indptr[u + 1]] for u in user_ids] or [np.empty(0, np.int32)]
        )
        seen = (np.repeat(np.arange(user_ids.size), lengths), columns)
        return self._combine([c._score_users(user_ids) for c in self.components_], seen)

    def _item_similarities(self, item_id: int) -> np.ndarray:
        total = np.zeros(self.n_items_, dtype=np.float32)
        found = False
        for weight, component in zip(self.weights_, self.components_, strict=True):
            if weight <= 0:
                # A component the ranker weighs down does not make items similar.
                continue
            try:
                similarities = np.asarray(component._item_similarities(item_id), np.float32)
            except NotImplementedError:
                continue
            found = True
            # Scale each component's similarities to a maximum of 1 before weighting.
            peak = np.abs(similarities).max()
            if peak > 0:
                total += weight * similarities / peak
        if not found:
            raise NotImplementedError("No blend component has item similarities.")
        return total

    def _contributions_batch(self, row: sp.csr_matrix, item_ids: np.ndarray) -> np.ndarray:
        total = np.zeros((len(item_ids), row.nnz), dtype=np.float64)
        for weight, component in zip(self.weights_, self.components_, strict=True):
            if weight <= 0:
                continue
            try:
                parts = np.asarray(component._contributions_batch(row, item_ids), np.float64)
            except NotImplementedError:
                continue
            # Shares within each component and item, so scales do not matter.
            scale = np.abs(parts).sum(axis=1, keepdims=True)
            total += weight * np.divide(parts, scale, out=np.zeros_like(parts), where=scale > 0)
        return total
