"""The training pipeline: events -> matrices -> fitted, evaluated recommenders -> artifacts.

One batch trains every configured algorithm on the same data. Each algorithm is fitted
on the events before the holdout period, scored on the items users bought in it
(NDCG, recall and coverage at ``EVALUATION_K``), then refitted on all events and saved
as the artifact of its :class:`~recommendations.models.TrainingRun`. Deciding which run
serves is the job of :mod:`recommendations.services`, from the per-user scores the
batch keeps in memory (:class:`BatchScores`).

Live data is not trusted blindly: events dated in the future (a wrong clock, a bad
import) are left out and counted, and the holdout and the trending window are placed
where the data is, so a long quiet stretch before today's first events does not leave
them holding one shopper.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.contrib.auth import get_user_model
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from recommendations import engine
from recommendations.adapters import (
    EventArrays,
    SettingsAdapter,
    SocialEdges,
    _key_array,
    get_adapter,
)
from recommendations.artifacts import (
    UserLists,
    artifact_delete,
    artifact_write,
    recommender_without_rows,
)
from recommendations.baskets import basket_matrix
from recommendations.compat import SoftTimeLimitExceeded
from recommendations.conf import app_settings
from recommendations.engine.base import Recommender
from recommendations.engine.cache import shared_fits
from recommendations.engine.ease import CatalogTooLargeError
from recommendations.engine.interactions import build_interactions
from recommendations.engine.metrics import evaluate_per_user, mean_metrics
from recommendations.engine.progress import progress_reporting
from recommendations.engine.split import holdout_new_items, temporal_split, window_end
from recommendations.models import TrainingRun
from recommendations.selection import (
    PER_USER_METRICS,
    Candidate,
    Selection,
    model_select,
    selection_folds,
)
from recommendations.trust import item_statistics, purchase_codes, trusted_rows, user_trust

logger = logging.getLogger(__name__)
SECONDS_PER_DAY = 86_400.0
#: Events dated more than this after now are a wrong clock or a bad import: ignored.
FUTURE_SKEW_SECONDS = 600.0
#: Distinct shoppers the trending and decay windows need before they may end at the
#: newest event; fewer (a trickle after a quiet stretch) and they end where the data is.
ANCHOR_MIN_USERS = 20

Progress = Callable[[str], None]
#: History items kept with each item of a precomputed list, to explain it.
NAMED_PER_ITEM = 3


class TrainingDataError(ValueError):
    """There is nothing (or too little) to train on."""


class TrainingInterrupted(RuntimeError):
    """The batch must stop: its lock was released or taken over, its runs failed by others."""


def registered_algorithms() -> dict[str, type[Recommender]]:
    """Every engine recommender by registry name (imports every algorithm)."""
    return engine.registered()


@dataclass(frozen=True)
class TrainingData:
    """The events of one batch as index arrays and matrices shared by every algorithm."""

    user_pks: np.ndarray
    item_pks: np.ndarray
    matrix: sp.csr_matrix  # all events, decayed, clipped at zero
    times: sp.csr_matrix
    train: sp.csr_matrix  # events before the holdout, decayed to the holdout start
    train_times: sp.csr_matrix
    test: sp.csr_matrix | None  # new target items of the holdout; None when nobody is scored
    user_features: sp.csr_matrix
    item_features: sp.csr_matrix
    user_idx: np.ndarray  # one entry per event, for the trending matrix
    item_idx: np.ndarray
    weight: np.ndarray
    time: np.ndarray
    newest: float  # the newest event not dated in the future
    holdout_start: float
    holdout_end: float
    trending_now: float  # where the trending window ends
    future_ignored: int  # events dated in the future, left out
    events: EventArrays | None = None  # for the item statistics (recommendations.trust)
    trust: np.ndarray | None = None  # per user row; None: everyone counts fully
    social: sp.csr_matrix | None = None  # users x users follows; None: SOCIAL is unset
    train_social: sp.csr_matrix | None = None  # the follows made before the holdout

    @property
    def n_events(self) -> int:
        """How many events the batch was trained on."""
        return int(self.weight.size)

    @property
    def data_cutoff(self) -> dt.datetime:
        """Time of the newest event."""
        return dt.datetime.fromtimestamp(self.newest, tz=dt.UTC)


def _weights(
    users: np.ndarray,
    items: np.ndarray,
    weights: np.ndarray,
    times: np.ndarray,
    *,
    shape: tuple[int, int],
    half_life_days: float | None,
    now: float,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Summed, decayed pair weights with dislikes subtracted and totals clipped at zero."""
    n_users, n_items = shape
    positive = weights > 0

    def build(mask: np.ndarray, sign: float) -> tuple[sp.csr_matrix, sp.csr_matrix]:
        return build_interactions(
            users[mask],
            items[mask],
            sign * weights[mask],
            n_users=n_users,
            n_items=n_items,
            times=times[mask],
            half_life_days=half_life_days,
            now=now,
        )

    matrix, latest = build(positive, 1.0)
    if not positive.all():
        dislikes, _ = build(~positive, -1.0)
        matrix = sp.csr_matrix(matrix - dislikes)
        matrix.data = np.clip(matrix.data, 0.0, None)
        matrix.eliminate_zeros()
        # Timestamps must have the same sparsity as the weights they describe.
        latest = sp.csr_matrix(latest.multiply(matrix > 0))
        latest.eliminate_zeros()
    matrix.sort_indices()
    latest.sort_indices()
    return matrix, latest


def _without_future(events: EventArrays) -> tuple[EventArrays, int]:
    """The events not dated after now (give or take a clock skew), and how many were not."""
    horizon = timezone.now().timestamp() + FUTURE_SKEW_SECONDS
    future = events.time > horizon
    count = int(future.sum())
    if not count:
        return events, 0
    logger.warning(
        "Ignoring %d event(s) dated after %s: a wrong clock or a bad import.",
        count,
        dt.datetime.fromtimestamp(horizon, tz=dt.UTC).isoformat(timespec="seconds"),
    )
    keep = ~future
    return (
        dataclasses.replace(
            events,
            user_pk=events.user_pk[keep],
            item_pk=events.item_pk[keep],
            weight=events.weight[keep],
            time=events.time[keep],
            source=events.source[keep],
            group=None if events.group is None else events.group[keep],
        ),
        count,
    )


def _anchor(users: np.ndarray, times: np.ndarray, *, days: float | None, newest: float) -> float:
    """Where a window of ``days`` ends: the newest event, unless too few shoppers are in it."""
    if days is None:
        return newest
    end = window_end(users, times, days=days, min_users=ANCHOR_MIN_USERS)
    return newest if end is None else end


def training_data_prepare(*, adapter: SettingsAdapter | None = None) -> TrainingData:
    """Read the events through the adapter and build the matrices of one batch."""
    adapter = adapter or get_adapter()
    events, future_ignored = _without_future(adapter.training_events())
    if len(events) == 0:
        ignored = f" ({future_ignored} dated in the future were ignored)" if future_ignored else ""
        raise TrainingDataError(
            "No events to train on: no consenting user has an event in any "
            f"EVENT_SOURCES{ignored}."
        )
    if not (events.weight > 0).any():
        raise TrainingDataError("No positive events to train on (only dislikes).")
    user_pks, user_idx = np.unique(events.user_pk, return_inverse=True)
    # Every catalog item gets a column, so content models can rank items nobody bought yet.
    catalog_pks = np.asarray(
        list(adapter.catalog_model()._default_manager.values_list("pk", flat=True)),
        dtype=events.item_pk.dtype,
    )
    item_pks = np.union1d(events.item_pk, catalog_pks)
    item_idx = np.searchsorted(item_pks, events.item_pk)
    shape = (int(user_pks.size), int(item_pks.size))
    newest = float(events.time.max())
    target_codes = [
        code for code, name in enumerate(events.sources) if name in app_settings.EVALUATION_SOURCES
    ]
    is_target = np.isin(events.source, target_codes) & (events.weight > 0)
    holdout_end = _holdout_end(user_idx, events.time, is_target, n_users=shape[0])
    holdout_start = holdout_end - float(app_settings.HOLDOUT_DAYS) * SECONDS_PER_DAY
    half_life = app_settings.HALF_LIFE_DAYS
    positive = events.weight > 0
    decay_now = _anchor(user_idx[positive], events.time[positive], days=half_life, newest=newest)

    matrix, times = _weights(
        user_idx, item_idx, events.weight, events.time,
        shape=shape, half_life_days=half_life, now=decay_now,
    )  # fmt: skip
    train_mask, test_mask = temporal_split(user_idx, item_idx, events.time, cutoff=holdout_start)
    train, train_times = _weights(
        user_idx[train_mask], item_idx[train_mask], events.weight[train_mask],
        events.time[train_mask], shape=shape, half_life_days=half_life, now=holdout_start,
    )  # fmt: skip
    # Accounts without a purchase teach the models nothing (recommendations.trust).
    trust = user_trust(events, user_idx, shape[0])
    matrix, times = trusted_rows(matrix, times, trust)
    train, train_times = trusted_rows(train, train_times, trust)
    test = None
    if train.nnz:
        # Events after the holdout (a trickle after a quiet stretch) are in no split.
        target = test_mask & is_target & (events.time <= holdout_end)
        relevant, _ = build_interactions(
            user_idx[target], item_idx[target], np.ones(int(target.sum())),
            n_users=shape[0], n_items=shape[1],
        )  # fmt: skip
        test = holdout_new_items(train, relevant)
        if not (np.diff(test.indptr) > 0).any():
            test = None
    return TrainingData(
        user_pks=user_pks,
        item_pks=item_pks,
        matrix=matrix,
        times=times,
        train=train,
        train_times=train_times,
        test=test,
        user_features=adapter.user_features(user_pks),
        item_features=adapter.item_features(item_pks),
        user_idx=user_idx,
        item_idx=item_idx,
        weight=events.weight,
        time=events.time,
        newest=newest,
        holdout_start=holdout_start,
        holdout_end=holdout_end,
        trending_now=_anchor(
            user_idx[positive],
            events.time[positive],
            days=app_settings.TRENDING_HALF_LIFE_DAYS,
            newest=newest,
        ),
        future_ignored=future_ignored,
        events=events,
        trust=trust,
        **_social(adapter, user_pks, holdout_start),
    )


def _social(
    adapter: SettingsAdapter, user_pks: np.ndarray, holdout_start: float
) -> dict[str, sp.csr_matrix | None]:
    """The follow matrices of a batch: all of them, and those made before the holdout."""
    edges = adapter.social_edges()
    return {
        "social": social_matrix(edges, user_pks),
        "train_social": social_matrix(edges, user_pks, before=holdout_start),
    }


def social_matrix(
    edges: SocialEdges | None, user_pks: np.ndarray, *, before: float | None = None
) -> sp.csr_matrix | None:
    """The users x users follow matrix of the batch's users (made before ``before``).

    Relations with a user outside the batch (no consenting events) are left out, as are
    relations dated at or after ``before``; undated ones always count.
    """
    if edges is None:
        return None
    n_users = int(user_pks.size)
    follower = np.searchsorted(user_pks, edges.follower_pk.astype(user_pks.dtype))
    followed = np.searchsorted(user_pks, edges.followed_pk.astype(user_pks.dtype))
    known = np.zeros(len(edges), dtype=bool)
    if n_users:
        follower, followed = np.minimum(follower, n_users - 1), np.minimum(followed, n_users - 1)
        known = (user_pks[follower] == edges.follower_pk) & (
            user_pks[followed] == edges.followed_pk
        )
    if before is not None:
        known &= ~(edges.time >= before)
    matrix = sp.csr_matrix(
        (edges.weight[known], (follower[known], followed[known])), shape=(n_users, n_users)
    )
    matrix.sum_duplicates()
    return sp.csr_matrix(matrix, dtype=np.float32)


def _holdout_end(
    user_idx: np.ndarray, times: np.ndarray, is_target: np.ndarray, *, n_users: int
) -> float:
    """The end of the holdout: the newest target event (purchase) whose ``HOLDOUT_DAYS``
    before hold ``MIN_USERS`` buyers with an earlier event, else the best such window.

    Ending at the newest target event, not at fresher views, leaves something to hit;
    moving back from it skips a quiet stretch between an old import and today's trickle.
    """
    if not is_target.any():
        return float(times.max())
    first_seen = np.full(n_users, np.inf)
    np.minimum.at(first_seen, user_idx, times)
    end = window_end(
        user_idx[is_target],
        times[is_target],
        days=float(app_settings.HOLDOUT_DAYS),
        min_users=app_settings.MIN_USERS,
        first_seen=first_seen,
    )
    return float(times[is_target].max()) if end is None else end


def _fit(name: str, params: dict[str, Any], data: TrainingData, *, full: bool) -> Recommender:
    recommender = registered_algorithms()[name](**params)
    matrix, times = (data.matrix, data.times) if full else (data.train, data.train_times)
    return recommender.fit(
        matrix,
        user_features=data.user_features,
        item_features=data.item_features,
        timestamps=times,
        social=data.social if full else data.train_social,
    )


def holdout_evaluate(
    name: str, params: dict[str, Any], data: TrainingData
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """Fit on the events before the holdout and score the holdout.

    Returns the run's metrics (null when the holdout is empty) and the per-user scores
    behind them (:func:`~recommendations.engine.metrics.evaluate_per_user`), or None.
    """
    k = app_settings.EVALUATION_K
    metrics: dict[str, Any] = {
        "k": k,
        "holdout_days": app_settings.HOLDOUT_DAYS,
        "ndcg": None,
        "recall": None,
        "coverage": None,
        "users": 0,
        "future_events_ignored": data.future_ignored,
    }
    if data.test is None:
        return metrics, None
    metrics["holdout_end"] = dt.datetime.fromtimestamp(data.holdout_end, tz=dt.UTC).isoformat(
        timespec="seconds"
    )
    recommender = _fit(name, params, data, full=False)
    scores = evaluate_per_user(recommender, data.train, data.test, k=k)
    metrics.update(mean_metrics(scores))
    return metrics, scores


@dataclass
class BatchScores:
    """Per-user holdout scores of one batch, kept in memory for the promotion decision.

    ``active`` holds the scores of the run that served when the batch was evaluated
    (``active_pk``), on this batch's holdout: the same users as every run of the batch.
    """

    runs: dict[int, dict[str, Any]]
    active_pk: int | None = None
    active: dict[str, Any] | None = None
    selected_pk: int | None = None  # the run of the configuration chosen on the folds


def _active_scores(
    runs: Sequence[TrainingRun], scores: dict[int, dict[str, Any]], data: TrainingData
) -> tuple[int | None, dict[str, Any] | None]:
    """The serving run's per-user scores on this batch's holdout, if it can be scored."""
    active = TrainingRun.objects.filter(is_active=True).first()
    if active is None or data.test is None:
        return None, None
    for run in runs:
        # A retrain of the serving configuration scores as it would on this holdout.
        if run.pk in scores and run.algorithm == active.algorithm and run.params == active.params:
            return active.pk, scores[run.pk]
    if active.algorithm not in registered_algorithms():
        return active.pk, None
    try:
        return active.pk, holdout_evaluate(active.algorithm, active.params, data)[1]
    except Exception:  # the active configuration may no longer fit (changed params ...)
        logger.exception("Could not score the active run #%s on this holdout.", active.pk)
        return active.pk, None


def auxiliary_fit(data: TrainingData) -> dict[str, bytes]:
    """The non-personal recommenders every artifact of the batch carries, as saved bytes."""
    if app_settings.TRUST_ENABLED and data.events is not None and data.trust is not None:
        return _trusted_auxiliary_fit(data, data.events, data.trust)
    known = registered_algorithms()
    similar = _fit(app_settings.SIMILAR_ALGORITHM, app_settings.SIMILAR_PARAMS, data, full=True)
    popularity = known["popularity"]().fit(data.matrix)
    # Trending is popularity under a short half-life: recent events dominate. The pairs
    # are not decayed here (old ones would round to nothing); trending decays by age.
    recent, recent_times = _weights(
        data.user_idx, data.item_idx, data.weight, data.time,
        shape=data.matrix.shape, half_life_days=None, now=data.trending_now,
    )  # fmt: skip
    if "trending" in known:
        trending = known["trending"](
            half_life_days=app_settings.TRENDING_HALF_LIFE_DAYS, now=data.trending_now
        ).fit(recent, timestamps=recent_times)
    else:
        trending = known["popularity"](use_weights=True).fit(recent)
    return {
        "similar": similar.to_bytes(),
        "trending": trending.to_bytes(),
        "popularity": popularity.to_bytes(),
        **_bought_together_fit(data),
    }


def _bought_together_fit(data: TrainingData, *, min_support: float = 0.0) -> dict[str, bytes]:
    """The complements model learned from the batch's baskets, or nothing without any.

    Its rows are baskets, not users: they are dropped once it is fitted, so the artifact
    keeps item-to-item counts only (and no order of anyone).
    """
    if data.events is None:
        return {}
    baskets = basket_matrix(
        data.events, data.user_idx, data.item_idx, data.trust, n_items=data.matrix.shape[1]
    )
    if not baskets.nnz:
        return {}
    params = dict(app_settings.BOUGHT_TOGETHER_PARAMS)
    if min_support:
        params.setdefault("min_support", min_support)
    recommender = registered_algorithms()["cooccurrence"](**params).fit(baskets)
    recommender_without_rows(recommender, np.zeros(baskets.shape[0], dtype=bool))
    return {"bought_together": recommender.to_bytes()}


def _trusted_auxiliary_fit(
    data: TrainingData, events: EventArrays, trust: np.ndarray
) -> dict[str, bytes]:
    """:func:`auxiliary_fit` on votes bounded per account (see recommendations.trust).

    Popularity counts the trusted buyers; trending weighs each account's latest vote and
    needs ``MIN_SUPPORT`` of them, as does each pair of similar items (of baskets, for
    a pair bought together).
    """
    known = registered_algorithms()
    min_support = float(app_settings.TRUST_MIN_SUPPORT)
    similar_params = dict(app_settings.SIMILAR_PARAMS)
    if "min_support" in known[app_settings.SIMILAR_ALGORITHM]._param_names():
        similar_params.setdefault("min_support", min_support)
    similar = _fit(app_settings.SIMILAR_ALGORITHM, similar_params, data, full=True)
    n_items = data.matrix.shape[1]
    codes = purchase_codes(events)
    bought, _ = item_statistics(
        events, data.user_idx, data.item_idx, trust, n_items=n_items,
        codes=codes if codes.size else None,
    )  # fmt: skip
    popularity = known["popularity"](use_weights=True).fit(bought)
    votes, latest = item_statistics(events, data.user_idx, data.item_idx, trust, n_items=n_items)
    if "trending" in known:
        trending = known["trending"](
            half_life_days=app_settings.TRENDING_HALF_LIFE_DAYS,
            now=data.trending_now,
            use_weights=True,
            min_support=min_support,
        ).fit(votes, timestamps=latest)
    else:
        trending = known["popularity"](use_weights=True, min_support=min_support).fit(votes)
    return {
        "similar": similar.to_bytes(),
        "trending": trending.to_bytes(),
        "popularity": popularity.to_bytes(),
        **_bought_together_fit(data, min_support=min_support),
    }


def selection_search(
    data: TrainingData,
    *,
    base: dict[str, dict[str, Any]] | None = None,
    progress: Progress | None = None,
) -> Selection | None:
    """The configurations of ``base`` (default ``ALGORITHMS``) and of the ``SELECTION``
    space around them, compared on folds carved before the holdout; None when off."""
    if not app_settings.SELECTION_ENABLED:
        return None
    codes = None
    if data.events is not None:
        names = data.events.sources
        codes = [names.index(name) for name in app_settings.EVALUATION_SOURCES if name in names]
    kind, folds = selection_folds(
        data,
        n_folds=app_settings.SELECTION_FOLDS,
        fold_days=float(app_settings.SELECTION_FOLD_DAYS),
        min_users=app_settings.SELECTION_MIN_USERS,
        half_life_days=app_settings.HALF_LIFE_DAYS,
        share=app_settings.SELECTION_USER_SHARE,
        target_codes=codes,
        max_users=app_settings.SELECTION_MAX_USERS,
    )
    metric = app_settings.PROMOTION_METRIC
    return model_select(
        data,
        folds,
        kind=kind,
        algorithms=registered_algorithms(),
        base=app_settings.ALGORITHMS if base is None else base,
        space=app_settings.SELECTION_SPACE,
        budget_seconds=float(app_settings.SELECTION_TIME_BUDGET_SECONDS),
        budget_share=float(app_settings.SELECTION_TIME_BUDGET_SHARE),
        max_evaluations=app_settings.SELECTION_MAX_EVALUATIONS,
        k=app_settings.EVALUATION_K,
        # Coverage belongs to a list set, not to a user: the folds rank by NDCG then.
        metric=metric if metric in PER_USER_METRICS else "ndcg",
        fatal=(SoftTimeLimitExceeded,),
        progress=progress,
        # The same search whatever else the machine runs (see SELECTION_TIME_BUDGET_SECONDS).
        clock=time.process_time,
    )


def _selected_run(
    runs: Sequence[TrainingRun], data: TrainingData, say: Progress
) -> tuple[TrainingRun, dict[str, Any]] | None:
    """The batch's run of the configuration chosen on the folds (created when no
    configured run has it) and the selection report, or None when nothing was chosen."""
    try:
        base = {run.algorithm: run.params for run in runs}
        result = selection_search(data, base=base, progress=say)
    except SoftTimeLimitExceeded:
        raise
    except Exception:  # the batch is then judged on its holdout alone, as without selection
        logger.exception("Model selection failed.")
        return None
    if result is None:
        return None
    if result.best is None:
        why = "could not tell the candidates apart" if result.folds else "found no fold"
        say(f"selection: {why}; the holdout decides.")
        return None
    chosen = result.best.candidate
    say(f"selection: chose {chosen.key} ({result.kind} folds).")
    for run in runs:
        if Candidate(run.algorithm, run.params).key == chosen.key:
            return run, result.report()
    first = runs[0]
    run = TrainingRun.objects.create(
        algorithm=chosen.algorithm,
        params=chosen.params,
        batch=first.batch,
        created_by=first.created_by,
        status=TrainingRun.Status.RUNNING,
        started_at=timezone.now(),
    )
    return run, result.report()


def _selection_record(run: TrainingRun, report: dict[str, Any]) -> None:
    """Keep the selection's folds, scores and margin in the chosen run's metrics."""
    if run.status == TrainingRun.Status.SUCCEEDED:
        run.metrics = {**(run.metrics or {}), "selection": report}
        run.save(update_fields=["metrics"])


def _without_departed_users(
    user_pks: np.ndarray, recommenders: dict[str, Recommender | bytes]
) -> tuple[np.ndarray, dict[str, Recommender | bytes]]:
    """Drop the rows of users deleted, or no longer consenting, since the events were read.

    A training reads its events long before it writes its artifacts; an account deleted
    meanwhile was removed from the serving runs only, so a new artifact must not bring
    it back. Returns the remaining user keys and the recommenders (unchanged when
    everyone is still there).
    """
    # One query over the users table rather than ``pk__in`` the batch's keys, which
    # would exceed SQLite's limit on query parameters for a large shop.
    allowed = get_adapter().consenting_user_ids()
    if allowed is None:
        allowed = get_user_model()._default_manager.values_list("pk", flat=True)
    keep = np.isin(user_pks, _key_array(list(allowed)))
    if keep.all():
        return user_pks, recommenders
    logger.info(
        "Leaving out %d user(s) deleted or opted out during the training.", int((~keep).sum())
    )
    return user_pks[keep], {
        name: recommender_without_rows(
            recommender if isinstance(recommender, Recommender) else engine.load(recommender),
            keep,
        )
        for name, recommender in recommenders.items()
    }


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000] or type(exc).__name__


# Seconds to wait before each new attempt at recording a failure the database refused.
FAIL_RETRY_DELAYS = (1.0, 5.0, 15.0)


def _fail(runs: Sequence[TrainingRun], exc: BaseException, started: float) -> bool:
    """Record ``exc`` on the runs still queued or running; False if the database refused.

    Each new attempt runs on a fresh connection. Runs left running when every attempt
    failed are marked failed, as stale, by the next training.
    """
    pks = [run.pk for run in runs]
    for delay in (0.0, *FAIL_RETRY_DELAYS):
        time.sleep(delay)
        try:
            TrainingRun.objects.filter(
                pk__in=pks, status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]
            ).update(
                status=TrainingRun.Status.FAILED,
                error=_error_text(exc),
                finished_at=timezone.now(),
                duration_seconds=time.perf_counter() - started,
            )
            for run in runs:
                run.refresh_from_db(fields=["status", "error", "finished_at", "duration_seconds"])
        except DatabaseError as db_exc:
            logger.warning("Cannot record the failure of runs %s yet: %s", pks, db_exc)
            if not connection.in_atomic_block:
                connection.close()
            continue
        return True
    logger.error("Gave up recording the failure of runs %s; the next training will.", pks)
    return False


def _artifact_discard(name: str) -> None:
    """Delete a failed run's new artifact unless a run names it (its save may have landed)."""
    if name and not TrainingRun.objects.filter(artifact=name).exists():
        artifact_delete(name)


def _succeeded_save(run: TrainingRun) -> None:
    """Save a run that succeeded, unless it was failed meanwhile (lock released, taken over)."""
    with transaction.atomic():
        if not (
            TrainingRun.objects.select_for_update()
            .filter(pk=run.pk, status=TrainingRun.Status.RUNNING)
            .exists()
        ):
            raise TrainingInterrupted(f"Run #{run.pk} was failed by another process meanwhile.")
        run.save()


def _stops_batch(exc: BaseException) -> bool:
    # Out of time, interrupted or cut off: the remaining algorithms must not start.
    return isinstance(
        exc, SoftTimeLimitExceeded | TrainingInterrupted | DatabaseError
    ) or not isinstance(exc, Exception)


def training_batch_run(
    runs: Sequence[TrainingRun], *, progress: Progress | None = None
) -> BatchScores:
    """Train every run of a batch: each ends succeeded with an artifact, or failed.

    Returns the per-user holdout scores of the succeeded runs and of the serving run.
    A run whose algorithm refuses the catalog (EASE above ``max_items``) is left out,
    and the batch's other runs say so, unless it is the batch's only run. Identical
    fits (the same EASE on the same events in the selection, the blend and alone) are
    made once (:func:`~recommendations.engine.cache.shared_fits`).
    """
    with shared_fits():
        return _batch_run(runs, progress=progress)


def _batch_run(runs: Sequence[TrainingRun], *, progress: Progress | None) -> BatchScores:
    say = progress or (lambda message: logger.info("%s", message))
    started = time.perf_counter()
    TrainingRun.objects.filter(pk__in=[run.pk for run in runs]).update(
        status=TrainingRun.Status.RUNNING, started_at=timezone.now()
    )
    for run in runs:
        run.refresh_from_db()
    try:
        say("Reading events…")
        data = training_data_prepare()
        say(
            f"{data.n_events:,} events, {data.matrix.shape[0]:,} users, "
            f"{data.matrix.shape[1]:,} items; fitting similar items, trending, popularity…"
        )
        auxiliary = auxiliary_fit(data)
        selected = _selected_run(runs, data, say)
    except BaseException as exc:
        logger.exception("Training batch failed before any algorithm ran.")
        if not _fail(runs, exc, started) or _stops_batch(exc):
            raise
        return BatchScores(runs={})
    if data.future_ignored:
        say(f"{data.future_ignored:,} events dated in the future ignored.")
    if selected is not None and selected[0] not in runs:
        runs = [*runs, selected[0]]
    scores: dict[int, dict[str, Any]] = {}
    left_out: list[str] = []
    for run in runs:
        run_started = time.perf_counter()
        artifact = ""
        try:
            evaluating = (
                f"{run.algorithm}: evaluating on the last {app_settings.HOLDOUT_DAYS} days…"
            )
            say(evaluating)
            with progress_reporting(_stage_reporter(say, evaluating)):
                metrics, per_user = holdout_evaluate(run.algorithm, run.params, data)
            fitting = f"{run.algorithm}: fitting on all events…"
            say(fitting)
            with progress_reporting(_stage_reporter(say, fitting)):
                recommender = _fit(run.algorithm, run.params, data, full=True)
            fallback = getattr(recommender, "fallback_", None)
            if fallback:
                metrics["fallback"] = fallback
            dropped = getattr(recommender, "dropped_", None)
            if dropped:
                metrics["notes"] = [*metrics.get("notes", []), _left_out_note(dropped)]
            say(f"{run.algorithm}: computing each user's list…")
            user_lists = user_lists_compute(recommender, data)
            user_pks, recommenders = _without_departed_users(
                data.user_pks, {"recommender": recommender, **auxiliary}
            )
            if user_lists is not None and user_pks.size != data.user_pks.size:
                user_lists = user_lists.without(np.isin(data.user_pks, user_pks))
            artifact = artifact_write(
                run_id=run.pk,
                algorithm=run.algorithm,
                user_pks=user_pks,
                item_pks=data.item_pks,
                user_lists=user_lists,
                **recommenders,
            )
            run.status = TrainingRun.Status.SUCCEEDED
            run.metrics = metrics
            run.artifact = artifact
            run.n_users, run.n_items = int(user_pks.size), data.matrix.shape[1]
            run.n_events = data.n_events
            run.data_cutoff = data.data_cutoff
            run.finished_at = timezone.now()
            run.duration_seconds = time.perf_counter() - run_started
            _succeeded_save(run)
            if per_user is not None:
                scores[run.pk] = per_user
            say(f"{run.algorithm}: done in {run.duration_seconds:.1f} s, {_summary(metrics)}")
        except BaseException as exc:
            if isinstance(exc, CatalogTooLargeError) and len(runs) > 1:
                # A set of algorithms drops what cannot fit a catalog this large (EASE
                # above its max_items) rather than failing the training; the other runs
                # say so. Asked for alone, it fails as any error does.
                left_out.append(f"{run.algorithm}: {exc}")
                say(f"{run.algorithm}: left out: {exc}")
                _run_leave_out(run)
                continue
            logger.exception("Training %s failed.", run.algorithm)
            stop = _stops_batch(exc)
            if not _fail(runs if stop else [run], exc, run_started):
                raise
            # Kept if the database cannot tell it is unused: pruning deletes it later.
            with contextlib.suppress(DatabaseError):
                _artifact_discard(artifact)
            if stop:
                raise
            say(f"{run.algorithm}: FAILED: {_error_text(exc)}")
    if left_out:
        _left_out_record(runs, left_out)
    if selected is not None:
        _selection_record(*selected)
    if scores:
        say("Scoring the serving version on this holdout…")
    active_pk, active = _active_scores(runs, scores, data) if scores else (None, None)
    return BatchScores(
        runs=scores,
        active_pk=active_pk,
        active=active,
        selected_pk=selected[0].pk if selected is not None else None,
    )


def user_lists_compute(recommender: Recommender, data: TrainingData) -> UserLists | None:
    """Each training user's personal list and its explanations, as serving would rank it.

    Bought items are left out as serving leaves them out (unless some categories may be
    bought again: then serving filters them). A user whose row the models were not
    taught (no trust, only dislikes) gets no list (``newest`` NaN never matches): their
    lists are scored at request time from their own history.
    """
    width = min(int(app_settings.USER_LIST_LENGTH), int(data.item_pks.size))
    n_users = int(data.user_pks.size)
    if width <= 0 or n_users == 0:
        return None
    items = np.full((n_users, width), -1, dtype=np.int32)
    scores = np.zeros((n_users, width), dtype=np.float32)
    named = np.full((n_users, width, NAMED_PER_ITEM), -1, dtype=np.int32)
    newest = np.full(n_users, -np.inf)
    np.maximum.at(newest, data.user_idx, data.time)
    bought = sp.csr_matrix((n_users, int(data.item_pks.size)), dtype=np.float32)
    known_bought = data.events is not None and not app_settings.REPEAT_PURCHASE_CATEGORIES
    if known_bought:
        purchase = np.isin(data.events.source, purchase_codes(data.events)) & (data.weight > 0)
        bought, _ = build_interactions(
            data.user_idx[purchase], data.item_idx[purchase], np.ones(int(purchase.sum())),
            n_users=n_users, n_items=int(data.item_pks.size),
        )  # fmt: skip
    taught = np.diff(data.matrix.indptr) > 0
    newest[~taught] = np.nan
    for user in np.flatnonzero(taught):
        blocked = bought.indices[bought.indptr[user] : bought.indptr[user + 1]]
        try:
            cols, values = recommender.recommend(
                int(user), width, exclude_seen=False, blocked=blocked
            )
            cols, values = cols[values > 0], values[values > 0]
            explained = recommender.explain_batch(cols, user_id=int(user), n=NAMED_PER_ITEM)
        except NotImplementedError:
            explained = [[] for _ in cols]
        except (ValueError, IndexError):
            newest[user] = np.nan  # scored at request time, as any error would be
            continue
        items[user, : cols.size] = cols
        scores[user, : cols.size] = values
        for position, pairs in enumerate(explained):
            named[user, position, : len(pairs)] = [col for col, _share in pairs]
    return UserLists(
        items=items,
        scores=scores,
        named=named,
        newest=newest,
        # Serving trusts them for a shopper with no event since: no history query then.
        bought_indptr=bought.indptr.astype(np.int64) if known_bought else None,
        bought_indices=bought.indices.astype(np.int32) if known_bought else None,
    )


def _stage_reporter(say: Progress, stage: str) -> Callable[[float, str], None]:
    """Progress from inside a fit as lines of ``stage``, ending with the share done."""

    def report(share: float, what: str) -> None:
        say(f"{stage} {what} ({share:.0%})")

    return report


def _left_out_note(reason: str) -> str:
    return str(_("Left out: %(reason)s") % {"reason": reason})


def _run_leave_out(run: TrainingRun) -> None:
    """Remove a run the catalog rules out: it was not trained, nor did it fail."""
    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).delete()


def _left_out_record(runs: Sequence[TrainingRun], reasons: list[str]) -> None:
    """Note on every succeeded run of the batch which algorithms were left out, and why."""
    notes = [_left_out_note(reason) for reason in reasons]
    for run in runs:
        if run.status == TrainingRun.Status.SUCCEEDED:
            run.metrics = {
                **(run.metrics or {}),
                "notes": [*(run.metrics or {}).get("notes", []), *notes],
            }
            run.save(update_fields=["metrics"])


def _summary(metrics: dict[str, Any]) -> str:
    if metrics.get("ndcg") is None:
        return "no holdout to evaluate on"
    k = metrics["k"]
    return (
        ", ".join(f"{name}@{k} {metrics[name]:.4f}" for name in ("ndcg", "recall", "coverage"))
        + f" over {metrics['users']} users"
    )
