"""The training pipeline: events -> matrices -> fitted, evaluated recommenders -> artifacts.

One batch trains every configured algorithm on the same data. Each algorithm is fitted
on the events before the holdout period, scored on the items users bought in it
(NDCG, recall and coverage at ``EVALUATION_K``), then refitted on all events and saved
as the artifact of its :class:`~recommendations.models.TrainingRun`. Deciding which run
serves is the job of :mod:`recommendations.services`.
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
import pkgutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.contrib.auth import get_user_model
from django.utils import timezone

from recommendations import engine
from recommendations.adapters import EventArrays, SettingsAdapter, _key_array, get_adapter
from recommendations.artifacts import artifact_delete, artifact_write
from recommendations.compat import SoftTimeLimitExceeded
from recommendations.conf import app_settings
from recommendations.engine.base import Recommender
from recommendations.engine.interactions import build_interactions
from recommendations.engine.metrics import evaluate
from recommendations.engine.split import holdout_new_items, temporal_split
from recommendations.models import TrainingRun

logger = logging.getLogger(__name__)
SECONDS_PER_DAY = 86_400.0

Progress = Callable[[str], None]


class TrainingDataError(ValueError):
    """There is nothing (or too little) to train on."""


def registered_algorithms() -> dict[str, type[Recommender]]:
    """Every engine recommender by registry name, importing all engine modules first."""
    for module in pkgutil.iter_modules(engine.__path__):
        importlib.import_module(f"{engine.__name__}.{module.name}")
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
    newest: float
    holdout_start: float

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


def training_data_prepare(*, adapter: SettingsAdapter | None = None) -> TrainingData:
    """Read the events through the adapter and build the matrices of one batch."""
    adapter = adapter or get_adapter()
    events: EventArrays = adapter.training_events()
    if len(events) == 0:
        raise TrainingDataError(
            "No events to train on: no consenting user has an event in any EVENT_SOURCES."
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
    # The holdout ends at the newest target event (purchase): fresher views alone would
    # otherwise leave a holdout without anything to hit.
    holdout_end = float(events.time[is_target].max()) if is_target.any() else newest
    holdout_start = holdout_end - float(app_settings.HOLDOUT_DAYS) * SECONDS_PER_DAY
    half_life = app_settings.HALF_LIFE_DAYS

    matrix, times = _weights(
        user_idx, item_idx, events.weight, events.time,
        shape=shape, half_life_days=half_life, now=newest,
    )  # fmt: skip
    train_mask, test_mask = temporal_split(user_idx, item_idx, events.time, cutoff=holdout_start)
    train, train_times = _weights(
        user_idx[train_mask], item_idx[train_mask], events.weight[train_mask],
        events.time[train_mask], shape=shape, half_life_days=half_life, now=holdout_start,
    )  # fmt: skip
    test = None
    if train.nnz:
        target = test_mask & is_target
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
    )


def _fit(name: str, params: dict[str, Any], data: TrainingData, *, full: bool) -> Recommender:
    recommender = registered_algorithms()[name](**params)
    matrix, times = (data.matrix, data.times) if full else (data.train, data.train_times)
    return recommender.fit(
        matrix,
        user_features=data.user_features,
        item_features=data.item_features,
        timestamps=times,
    )


def holdout_metrics(name: str, params: dict[str, Any], data: TrainingData) -> dict[str, Any]:
    """Fit on the events before the holdout and score the holdout; null metrics if empty."""
    k = app_settings.EVALUATION_K
    metrics: dict[str, Any] = {
        "k": k,
        "holdout_days": app_settings.HOLDOUT_DAYS,
        "ndcg": None,
        "recall": None,
        "coverage": None,
        "users": 0,
    }
    if data.test is None:
        return metrics
    recommender = _fit(name, params, data, full=False)
    metrics.update(evaluate(recommender, data.train, data.test, k=k))
    return metrics


def auxiliary_fit(data: TrainingData) -> dict[str, bytes]:
    """The non-personal recommenders every artifact of the batch carries, as saved bytes."""
    known = registered_algorithms()
    similar = _fit(app_settings.SIMILAR_ALGORITHM, app_settings.SIMILAR_PARAMS, data, full=True)
    popularity = known["popularity"]().fit(data.matrix)
    # Trending is popularity under a short half-life: recent events dominate.
    recent, recent_times = _weights(
        data.user_idx, data.item_idx, data.weight, data.time,
        shape=data.matrix.shape, half_life_days=app_settings.TRENDING_HALF_LIFE_DAYS,
        now=data.newest,
    )  # fmt: skip
    if "trending" in known:
        trending = known["trending"]().fit(recent, timestamps=recent_times)
    else:
        trending = known["popularity"](use_weights=True).fit(recent)
    return {
        "similar": similar.to_bytes(),
        "trending": trending.to_bytes(),
        "popularity": popularity.to_bytes(),
    }


def _without_departed_users(
    user_pks: np.ndarray, recommenders: dict[str, Recommender | bytes]
) -> tuple[np.ndarray, dict[str, Recommender | bytes]]:
    """Drop the rows of users deleted, or no longer consenting, since the events were read.

    A training reads its events long before it writes its artifacts; an account deleted
    meanwhile was removed from the serving runs only, so a new artifact must not bring
    it back. Returns the remaining user keys and the recommenders (unchanged when
    everyone is still there).
    """
    # Deferred: privacy imports the serving side, which imports this module.
    from recommendations.privacy import recommender_without_rows

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


def _fail(runs: Sequence[TrainingRun], exc: BaseException, started: float) -> None:
    now = timezone.now()
    for run in runs:
        if run.status in (TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING):
            run.status = TrainingRun.Status.FAILED
            run.error = _error_text(exc)
            run.finished_at = now
            run.duration_seconds = time.perf_counter() - started
            run.save(update_fields=["status", "error", "finished_at", "duration_seconds"])


def training_batch_run(runs: Sequence[TrainingRun], *, progress: Progress | None = None) -> None:
    """Train every run of a batch: each ends succeeded with an artifact, or failed."""
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
    except BaseException as exc:
        logger.exception("Training batch failed before any algorithm ran.")
        _fail(runs, exc, started)
        if isinstance(exc, SoftTimeLimitExceeded) or not isinstance(exc, Exception):
            raise
        return
    for run in runs:
        run_started = time.perf_counter()
        artifact = ""
        try:
            say(f"{run.algorithm}: evaluating on the last {app_settings.HOLDOUT_DAYS} days…")
            metrics = holdout_metrics(run.algorithm, run.params, data)
            say(f"{run.algorithm}: fitting on all events…")
            recommender = _fit(run.algorithm, run.params, data, full=True)
            user_pks, recommenders = _without_departed_users(
                data.user_pks, {"recommender": recommender, **auxiliary}
            )
            artifact = artifact_write(
                run_id=run.pk,
                algorithm=run.algorithm,
                user_pks=user_pks,
                item_pks=data.item_pks,
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
            run.save()
            say(f"{run.algorithm}: done in {run.duration_seconds:.1f} s, {_summary(metrics)}")
        except BaseException as exc:
            logger.exception("Training %s failed.", run.algorithm)
            artifact_delete(artifact)
            _fail([run], exc, run_started)
            say(f"{run.algorithm}: FAILED: {_error_text(exc)}")
            # Out of time or interrupted: the remaining algorithms must not start.
            if isinstance(exc, SoftTimeLimitExceeded) or not isinstance(exc, Exception):
                _fail(runs, exc, started)
                raise


def _summary(metrics: dict[str, Any]) -> str:
    if metrics.get("ndcg") is None:
        return "no holdout to evaluate on"
    k = metrics["k"]
    return (
        ", ".join(f"{name}@{k} {metrics[name]:.4f}" for name in ("ndcg", "recall", "coverage"))
        + f" over {metrics['users']} users"
    )
