"""Writes of the recommendations app: train, promote, roll back, queue a training."""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import DatabaseError, IntegrityError, connection, connections, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from recommendations import serving
from recommendations.artifacts import (
    ArtifactError,
    artifact_delete,
    artifact_modified_time,
    artifact_names,
    artifact_read,
)
from recommendations.conf import app_settings
from recommendations.engine.metrics import paired_bootstrap
from recommendations.liveness import process_gone, process_identity
from recommendations.models import Experiment, TrainingLock, TrainingRun
from recommendations.serving.keys import (
    AVAILABILITY_CHANGED_KEY,
    CATALOG_CHANGED_KEY,
    SOCIAL_CHANGED_KEY,
)
from recommendations.serving.near_cache import near_forget
from recommendations.tombstones import forgotten_artifacts_rewrite
from recommendations.training import (
    BatchScores,
    Progress,
    TrainingInterrupted,
    registered_algorithms,
    training_batch_run,
)

logger = logging.getLogger(__name__)

LOCK_NAME = "training"
STALE_ERROR = (
    "Interrupted: the training process stopped before finishing (killed, timed out, "
    "crashed or cut off from the database); the previous version kept serving."
)
RELEASED_ERROR = "Stopped: {user} released the training lock; the previous version kept serving."


class TrainingLocked(RuntimeError):
    """Another training holds the lock."""


class _Heartbeat(threading.Thread):
    """Refreshes a held lock's heartbeat until stopped; notices when the lock was lost."""

    def __init__(self, token: str, interval: float) -> None:
        super().__init__(name="training-lock-heartbeat", daemon=True)
        self.token, self.interval = token, interval
        self.stopped, self.lost = threading.Event(), threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.interval):
                if not self.beat():
                    self.lost.set()
                    return
        finally:
            connections.close_all()  # this thread's own connections

    def beat(self) -> bool:
        """Refresh the heartbeat; False when the lock is no longer this training's."""
        try:
            return bool(
                TrainingLock.objects.filter(name=LOCK_NAME, token=self.token).update(
                    heartbeat_at=timezone.now()
                )
            )
        except DatabaseError as exc:
            # The database may come back before the lock goes stale: try again next beat.
            logger.warning("Could not refresh the training lock's heartbeat: %s", exc)
            connection.close()
            return True


class HeldLock:
    """The training lock held by this process, as ``training_lock`` yields it."""

    def __init__(self, token: str, heartbeat: _Heartbeat) -> None:
        self.token = token
        self._heartbeat = heartbeat
        self._reported = False

    def check(self) -> None:
        """Raise TrainingInterrupted (once) if the lock was released or taken over."""
        if self._heartbeat.lost.is_set() and not self._reported:
            self._reported = True
            raise TrainingInterrupted(
                "The training lock was released by staff or taken over as stale; "
                "this training stopped."
            )

    def watch(self, progress: Progress | None, *, runs: Sequence[TrainingRun] = ()) -> Progress:
        """``progress`` (default: the log) that first checks the lock is still held and
        records on the lock row how far the training of ``runs`` is."""
        record = _ProgressRecord(self.token, runs)

        def say(message: str) -> None:
            self.check()
            record(message)
            if progress is None:
                logger.info("%s", message)
            else:
                progress(message)

        return say


#: The percents of the progress: events read, model selection done, algorithms done.
READ_PERCENT, SELECTION_END, ALGORITHMS_END = 5, 25, 95
#: A step inside a stage ends its message with the share of the stage done: "(40%)".
STEP_SHARE = re.compile(r"\((\d{1,3})%\)$")


class _ProgressRecord:
    """Keeps the lock row's stage, algorithm and percent as a training reports progress.

    A message about one algorithm starts with its name and a colon: its first message
    (evaluating) starts the algorithm's share of the way, the second (fitting) is half of
    it, the third (done or failed) ends it; a message ending with a share in brackets,
    "(40%)", is a step inside the current stage (a blend's component fits) and moves
    within it. Before the first algorithm the events are read (0 to 5 %), then the
    model selection ("selection: … (40%)") takes the way to 25 %; a message after the
    algorithms is the scoring of the serving version (95 %). The row goes with the lock
    when the training ends.
    """

    def __init__(self, token: str, runs: Sequence[TrainingRun]) -> None:
        self.token = token
        self.names = [run.algorithm for run in runs]
        self.batch = runs[0].batch if runs else ""
        self.seen: Counter[str] = Counter()
        self.messages = 0
        self.percent = 0
        self.start = READ_PERCENT  # where the algorithms' share begins

    def __call__(self, message: str) -> None:
        algorithm = next((name for name in self.names if message.startswith(f"{name}:")), "")
        step = STEP_SHARE.search(message)
        share = int(step.group(1)) / 100 if step else None
        self.messages += 1
        if algorithm:
            if share is None or not self.seen[algorithm]:
                self.seen[algorithm] += 1
            done = sum(min(count - 1, 2) / 2 for count in self.seen.values())
            if share is not None and self.seen[algorithm] <= 2:
                done += share / 2
            percent = self.start + (ALGORITHMS_END - self.start) * done / len(self.names)
        elif self.seen:
            percent = ALGORITHMS_END
        elif message.startswith("selection:"):
            self.start = SELECTION_END
            percent = READ_PERCENT + (SELECTION_END - READ_PERCENT) * (share or 0.0)
        else:
            percent = 0 if self.messages == 1 else READ_PERCENT
        self.percent = max(self.percent, round(percent))
        try:
            TrainingLock.objects.filter(name=LOCK_NAME, token=self.token).update(
                batch=self.batch,
                stage=message[:255],
                algorithm=algorithm,
                percent=self.percent,
                progress_at=timezone.now(),
            )
        except DatabaseError as exc:
            # Progress is for staff to watch: never a reason to stop the training.
            logger.warning("Could not record the training's progress: %s", exc)
            connection.close()


def _lock_holder_text(lock: TrainingLock) -> str:
    return (
        f"lock held by {lock.holder or 'an unknown process'} since "
        f"{lock.acquired_at:%Y-%m-%d %H:%M:%S %Z}, last heartbeat "
        f"{lock.heartbeat_at:%H:%M:%S %Z}"
    )


def training_lock_is_stale(lock: TrainingLock) -> bool:
    """Whether a lock belongs to a dead training: no recent heartbeat, expired, or its
    process is gone from this machine."""
    now = timezone.now()
    silent = dt.timedelta(seconds=app_settings.TRAINING_LOCK_STALE_AFTER)
    return (
        lock.expires_at <= now or lock.heartbeat_at <= now - silent or process_gone(lock.process)
    )


@contextmanager
def training_lock(*, timeout: float | None = None) -> Iterator[HeldLock]:
    """Hold the one training lock (a database row with a heartbeat) or raise TrainingLocked.

    A thread refreshes the row's heartbeat every quarter of ``TRAINING_LOCK_STALE_AFTER``.
    The lock of a dead training (see ``training_lock_is_stale``) is taken over, so a
    killed worker blocks training for minutes at most, and not at all when it ran on
    this machine. ``timeout`` (default ``TRAINING_LOCK_TIMEOUT``) caps how long the lock
    is held even with a live heartbeat.
    """
    token = uuid.uuid4().hex
    now = timezone.now()
    seconds = app_settings.TRAINING_LOCK_TIMEOUT if timeout is None else timeout
    with transaction.atomic():
        current = TrainingLock.objects.select_for_update().filter(name=LOCK_NAME).first()
        if current is not None:
            if not training_lock_is_stale(current):
                raise TrainingLocked(
                    _("Another training is running (%(holder)s).")
                    % {"holder": _lock_holder_text(current)}
                )
            logger.warning("Taking over the stale training %s.", _lock_holder_text(current))
            TrainingLock.objects.filter(name=LOCK_NAME, token=current.token).delete()
        try:
            with transaction.atomic():
                TrainingLock.objects.create(
                    name=LOCK_NAME,
                    token=token,
                    acquired_at=now,
                    heartbeat_at=now,
                    expires_at=now + dt.timedelta(seconds=seconds),
                    holder=f"{socket.gethostname()} pid {os.getpid()}"[:255],
                    process=process_identity(),
                )
        except IntegrityError:
            raise TrainingLocked(
                _("Another training is running (it just took the lock).")
            ) from None
    heartbeat = _Heartbeat(token, app_settings.TRAINING_LOCK_STALE_AFTER / 4)
    heartbeat.start()
    try:
        yield HeldLock(token, heartbeat)
    finally:
        heartbeat.stopped.set()
        heartbeat.join()
        try:
            TrainingLock.objects.filter(name=LOCK_NAME, token=token).delete()
        except DatabaseError as exc:
            # Not raised over the training's own outcome: the lock goes stale by itself.
            logger.error("Could not release the training lock: %s", exc)


def training_run_mark_stale(*, error: str = STALE_ERROR) -> int:
    """Fail the runs a dead training left queued or running; call while holding the lock."""
    return TrainingRun.objects.filter(
        status__in=[TrainingRun.Status.QUEUED, TrainingRun.Status.RUNNING]
    ).update(status=TrainingRun.Status.FAILED, error=error, finished_at=timezone.now())


def training_lock_release(*, user: Any = None) -> int:
    """Release the training lock, whoever holds it, and fail its unfinished runs.

    For staff when a training is stuck; a training still running notices within a
    heartbeat and stops. Returns how many runs were failed.
    """
    who = getattr(user, "username", "") or "staff"
    with transaction.atomic():
        TrainingLock.objects.filter(name=LOCK_NAME).delete()
        failed = training_run_mark_stale(error=RELEASED_ERROR.format(user=who))
    logger.warning("%s released the training lock; %d run(s) failed.", who, failed)
    return failed


def _algorithms(names: list[str] | None) -> dict[str, dict[str, Any]]:
    configured = app_settings.ALGORITHMS
    if not names:
        return configured
    known = registered_algorithms()
    unknown = [name for name in names if name not in configured and name not in known]
    if unknown:
        raise ValueError(
            f"Unknown algorithm(s) {', '.join(unknown)}; configured: {', '.join(configured)}."
        )
    return {name: configured.get(name, {}) for name in dict.fromkeys(names)}


def training_run_start(
    *,
    algorithms: list[str] | None = None,
    user: Any = None,
    promote: bool | None = None,
    progress: Progress | None = None,
) -> TrainingRun:
    """Train the configured (or given) algorithms now, one TrainingRun each.

    Promotes the best succeeded run (with ``SELECTION`` on: the configuration chosen on
    validation folds before the holdout, see :mod:`recommendations.selection`) when, on
    at least ``MIN_USERS`` users of this batch's holdout, it beats the active version
    beyond the noise (see :func:`_promotion_decision`; ``promote`` defaults to
    ``AUTO_PROMOTE``), and notes why on the run either way.
    Returns the promoted run, else the best succeeded run, else the first failed one.
    Raises TrainingLocked when another training is running and ValueError for an
    unknown algorithm.
    """
    selected = _algorithms(algorithms)
    promote = app_settings.AUTO_PROMOTE if promote is None else promote
    creator = user if getattr(user, "is_authenticated", False) else None
    with training_lock() as lock:
        training_run_mark_stale()
        batch = uuid.uuid4().hex
        with transaction.atomic():
            runs = [
                TrainingRun.objects.create(
                    algorithm=name, params=params, batch=batch, created_by=creator
                )
                for name, params in selected.items()
            ]
        scores = training_batch_run(runs, progress=lock.watch(progress, runs=runs))
    # The batch may have added a run: the configuration the selection chose.
    runs = list(TrainingRun.objects.filter(batch=batch).order_by("pk"))
    succeeded = [run for run in runs if run.status == TrainingRun.Status.SUCCEEDED]
    if not succeeded:
        return runs[0]
    # The configuration chosen on the folds before the holdout, else the holdout's best.
    picked = [run for run in succeeded if run.pk == scores.selected_pk]
    best = picked[0] if picked else max(succeeded, key=_score)
    if promote:
        chosen, note = _promotion_decision(best, succeeded, scores)
    else:
        chosen, note = None, _("Not promoted: automatic promotion is off.")
    for run in succeeded:
        run.promotion_note = note if run in (best, chosen) else _("Not the best of its batch.")
        run.save(update_fields=["promotion_note"])
    if chosen is not None:
        # An unreadable artifact is never promoted; the run stays for inspection.
        try:
            best = training_run_promote(run=chosen, user=creator)
        except ValidationError as exc:
            chosen.promotion_note = _("Not promoted: %(error)s") % {"error": " ".join(exc)}
            chosen.save(update_fields=["promotion_note"])
    _prune_quietly()
    return best


def _prune_quietly() -> None:
    # Housekeeping must never fail a training that succeeded.
    try:
        training_artifacts_prune()
        # Deleted users whose artifacts the storage could not rewrite then: try again.
        forgotten_artifacts_rewrite()
    except Exception:  # any storage error: the next training tries again
        logger.exception("Could not delete old recommendation artifacts or rewrite them.")


def _score(run: TrainingRun) -> float:
    value = run.metric(app_settings.PROMOTION_METRIC)
    return -1.0 if value is None else value


def _promotion_decision(
    best: TrainingRun, succeeded: list[TrainingRun], scores: BatchScores
) -> tuple[TrainingRun | None, str]:
    """The run of the batch to promote (or None) and a short note saying why.

    With a version serving, nothing is promoted on fewer than ``MIN_USERS`` evaluated
    users. The best run is compared with the serving version on this batch's holdout,
    user by user (the serving version was evaluated on an older holdout, so its stored
    numbers are not comparable): it is promoted when the lower bound of a paired
    bootstrap interval of the difference exceeds ``MIN_IMPROVEMENT``. Otherwise a
    retrain of the serving configuration, if the batch has one, is promoted: the same
    recommender on newer data.
    """
    active = TrainingRun.objects.filter(is_active=True).first()
    if active is None:
        return best, _("Promoted: no version was serving.")
    metric = app_settings.PROMOTION_METRIC
    users = int((best.metrics or {}).get("users") or 0)
    if best.metric(metric) is None:
        return None, _("Not promoted: this batch had no holdout to evaluate on.")
    if users < app_settings.MIN_USERS:
        return None, _(
            "Not promoted: evaluated on %(users)d users, fewer than MIN_USERS (%(min)d); "
            "run #%(active)d keeps serving."
        ) % {"users": users, "min": app_settings.MIN_USERS, "active": active.pk}
    new = scores.runs.get(best.pk)
    old = scores.active if scores.active_pk == active.pk else None
    if new is None or old is None:
        return None, _(
            "Not promoted: the serving run #%(active)d could not be scored on this holdout."
        ) % {"active": active.pk}
    refresh = next(
        (
            run
            for run in succeeded
            if run.algorithm == active.algorithm
            and run.params == active.params
            and run.pk in scores.runs
        ),
        None,
    )
    if refresh is not None and refresh.pk == best.pk:
        return best, _(
            "Promoted: a retrain of the serving configuration on newer data (run #%(active)d)."
        ) % {"active": active.pk}
    mean, low, high = _difference(new, old, metric)
    values = {
        "metric": metric,
        "mean": mean,
        "low": low,
        "high": high,
        "users": users,
        "active": active.pk,
    }
    if low > app_settings.MIN_IMPROVEMENT:
        return best, _(
            "Promoted: %(metric)s %(mean)+.4f over run #%(active)d on the same %(users)d users "
            "(95%% interval %(low)+.4f to %(high)+.4f)."
        ) % values
    if refresh is not None:
        return refresh, _(
            "Promoted: a retrain of the serving configuration on newer data; the best run's "
            "%(metric)s %(mean)+.4f over run #%(active)d on %(users)d users is within the "
            "noise (95%% interval %(low)+.4f to %(high)+.4f)."
        ) % values
    return None, _(
        "Not promoted: %(metric)s %(mean)+.4f over run #%(active)d on the same %(users)d users "
        "is within the noise (95%% interval %(low)+.4f to %(high)+.4f)."
    ) % values


def _difference(
    new: dict[str, Any], old: dict[str, Any], metric: str
) -> tuple[float, float, float]:
    """Mean difference of a metric between two runs on the same users, and its interval."""
    if metric == "coverage":
        # Coverage belongs to the whole list set, not to a user: no interval to draw.
        difference = float(new["coverage"]) - float(old["coverage"])
        return difference, difference, difference
    users, mine, theirs = np.intersect1d(new["users"], old["users"], return_indices=True)
    if users.size == 0:
        return 0.0, 0.0, 0.0
    return paired_bootstrap(new[metric][mine], old[metric][theirs])


def _artifact_check(run: TrainingRun, message: str) -> None:
    """ValidationError with ``message`` (its ``pk`` and ``error``) unless the run's
    artifact can be read: a run about to serve must load in every process."""
    try:
        artifact_read(run.artifact)
    except ArtifactError as exc:
        raise ValidationError(message % {"pk": run.pk, "error": exc}) from exc


def training_run_promote(*, run: TrainingRun, user: Any = None) -> TrainingRun:
    """Make a succeeded run the version that serves; the previous one stays for rollback."""
    if run.status != TrainingRun.Status.SUCCEEDED:
        raise ValidationError(
            _("Run #%(pk)s did not succeed; only succeeded runs can serve.") % {"pk": run.pk}
        )
    if not run.artifact:
        raise ValidationError(
            _(
                "Run #%(pk)s has no artifact any more (older artifacts are deleted, see "
                "ARTIFACT_KEEP); train again."
            )
            % {"pk": run.pk}
        )
    _artifact_check(run, _("Run #%(pk)s cannot be promoted: %(error)s"))
    with transaction.atomic():
        # The artifact read above must still be the run's: pruning may have taken it.
        if (
            not TrainingRun.objects.select_for_update()
            .filter(pk=run.pk, artifact=run.artifact)
            .exists()
        ):
            raise ValidationError(
                _("Run #%(pk)s changed while promoting it; try again.") % {"pk": run.pk}
            )
        TrainingRun.objects.select_for_update().filter(is_active=True).exclude(pk=run.pk).update(
            is_active=False
        )
        run.is_active = True
        run.promoted_at = timezone.now()
        run.save(update_fields=["is_active", "promoted_at"])
        # This process serves the new version at once; others within RELOAD_INTERVAL.
        transaction.on_commit(serving.expire)
    return run


def _rollback_target(active: TrainingRun | None) -> TrainingRun | None:
    """The version promoted before ``active`` (the latest promoted without one)."""
    previous = TrainingRun.objects.filter(
        status=TrainingRun.Status.SUCCEEDED, promoted_at__isnull=False
    ).exclude(artifact="")
    if active is not None:
        previous = previous.exclude(pk=active.pk).filter(promoted_at__lt=active.promoted_at)
    return previous.order_by("-promoted_at", "-pk").first()


def training_run_rollback(*, user: Any = None) -> TrainingRun:
    """Serve again the version promoted before the active one; ValidationError, nothing
    changed, when there is none or its artifact cannot be read (as promoting checks)."""
    target = _rollback_target(TrainingRun.objects.filter(is_active=True).first())
    if target is None:
        raise ValidationError(_("There is no earlier version to roll back to."))
    _artifact_check(target, _("Run #%(pk)s cannot serve again: %(error)s"))
    with transaction.atomic():
        active = TrainingRun.objects.select_for_update().filter(is_active=True).first()
        # Another promotion or rollback since the artifact was read: not this target.
        if (
            _rollback_target(active) != target
            or not TrainingRun.objects.filter(pk=target.pk, artifact=target.artifact).exists()
        ):
            raise ValidationError(_("The versions changed while rolling back; try again."))
        if active is not None:
            active.is_active = False
            active.save(update_fields=["is_active"])
        # promoted_at is kept, so a second rollback goes one version further back.
        target.is_active = True
        target.save(update_fields=["is_active"])
        transaction.on_commit(serving.expire)
    return target


def training_artifacts_prune(*, keep: int | None = None) -> list[str]:
    """Delete the artifacts no version needs any more, and return their names.

    Kept: the active run's, those of the runs in a live experiment and of the latest
    training (promoted or not, staff may still compare and promote them), and those of
    the ``keep`` (default ``ARTIFACT_KEEP``) newest other succeeded runs, for rollback.
    Older runs keep their row, metrics and chart point; only the file goes, and the
    cleared ``artifact`` tells the admin they can no longer serve. Files of the artifact
    folder that no run names (a write interrupted before its run was saved) go once
    older than ``TRAINING_LOCK_TIMEOUT``.
    """
    keep = app_settings.ARTIFACT_KEEP if keep is None else keep
    if keep is None:
        return []
    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise ValueError(f"keep must be a non-negative integer or None, got {keep!r}.")
    serving = {
        pk
        for pair in Experiment.objects.filter(active=True).values_list(
            "control_run_id", "challenger_run_id"
        )
        for pk in pair
        if pk is not None
    }
    latest = TrainingRun.objects.order_by("-created_at", "-pk").values("batch")[:1]
    # A file is kept while any serving run names it, whichever run the pruning is about.
    needed = TrainingRun.objects.filter(Q(is_active=True) | Q(pk__in=serving)).values("artifact")
    spare = (
        TrainingRun.objects.filter(status=TrainingRun.Status.SUCCEEDED, is_active=False)
        .exclude(artifact="")
        .exclude(pk__in=serving)
        .exclude(batch__in=latest)
        .order_by("-created_at", "-pk")
        .values_list("pk", "artifact")
    )
    deleted = []
    for pk, name in spare[keep:]:
        # Cleared only if still inactive and unchanged: a concurrent promotion wins.
        if (
            TrainingRun.objects.filter(pk=pk, is_active=False, artifact=name).update(artifact="")
            and not needed.filter(artifact=name).exists()
        ):
            artifact_delete(name)
            deleted.append(name)
    return deleted + _orphans_delete()


def _orphans_delete() -> list[str]:
    named = set(TrainingRun.objects.exclude(artifact="").values_list("artifact", flat=True))
    cutoff = timezone.now() - dt.timedelta(seconds=app_settings.TRAINING_LOCK_TIMEOUT)
    deleted = []
    for name in artifact_names():
        if name in named:
            continue
        modified = artifact_modified_time(name)
        if modified is not None and modified < cutoff:
            artifact_delete(name)
            deleted.append(name)
    return deleted


def training_run_start_unless_locked(
    *, algorithms: list[str] | None = None, user: Any = None
) -> TrainingRun | None:
    """:func:`training_run_start`, or None (logged) when another training holds the lock.

    For queued trainings (a Celery task, a run after a commit): a duplicate that finds
    a training under way (beat overlap, redelivery, two clicks) has nothing left to do.
    """
    try:
        return training_run_start(algorithms=algorithms, user=user)
    except TrainingLocked as exc:
        logger.info("Skipping training: %s", exc)
        return None


def training_lock_ensure_free() -> None:
    """Raise TrainingLocked while a live training holds the lock (a stale one does not)."""
    lock = TrainingLock.objects.filter(name=LOCK_NAME).first()
    if lock is not None and not training_lock_is_stale(lock):
        raise TrainingLocked(
            _("Another training is running (%(holder)s).") % {"holder": _lock_holder_text(lock)}
        )


def training_process_start(
    *, algorithms: list[str] | None = None, user_id: int | None = None
) -> subprocess.Popen[bytes]:
    """Run ``manage.py train_recommendations`` in a process of its own and return it.

    The process uses this one's environment, settings module and import path; its
    output goes where this process's goes (the development server's console). A thread
    waits for it, so no finished training lingers as a zombie process.
    """
    command = [sys.executable, "-m", "django", "train_recommendations"]
    if algorithms:
        command += ["--algorithms", ",".join(algorithms)]
    if user_id is not None:
        command += ["--user-id", str(user_id)]
    path = [os.getcwd(), *(entry for entry in sys.path if entry)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(dict.fromkeys(path))}
    # manage.py and WSGI set the variable; a project configured otherwise has its module.
    if "DJANGO_SETTINGS_MODULE" not in env and settings.SETTINGS_MODULE:
        env["DJANGO_SETTINGS_MODULE"] = settings.SETTINGS_MODULE
    process = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL)
    threading.Thread(target=process.wait, name="training-process-reaper", daemon=True).start()
    logger.info("Training started in process %d.", process.pid)
    return process


def _changed_now(key: str) -> None:
    """Mark ``key`` with the time now, for every process (this one's near cache at once)."""
    cache.set(key, time.time(), None)
    near_forget(key)


def catalog_changed() -> None:
    """Tell serving that items changed: what they show (label, price, category) or more.

    Each process reads the available items and their instances again, and cached lists
    check their items' availability on their next read. Saves and deletes of catalog
    rows call this through a signal; call it yourself after ``QuerySet.update()`` or
    ``bulk_update()`` of what items show, which send no signal. With a per-process
    cache, other processes notice within ``RELOAD_INTERVAL`` seconds.
    """
    _changed_now(CATALOG_CHANGED_KEY)


def availability_changed() -> None:
    """Tell serving that items may have sold out or come back, and nothing else changed.

    As :func:`catalog_changed` for the availability alone (stock, an active flag after
    a checkout): each process reads which items are available again, one query, and
    keeps the instances it holds. Call it after ``QuerySet.update()`` of stock or flags.
    """
    _changed_now(AVAILABILITY_CHANGED_KEY)


def social_changed() -> None:
    """Tell serving that follows were made or undone (``SOCIAL``).

    Each process keeps who follows anyone, so a shopper who follows nobody costs no
    query; it reads them again after this. Saves and deletes of the follow model call
    it through a signal; call it yourself after ``bulk_create()`` or ``update()`` of
    follows. Without it, processes notice within ``RELOAD_INTERVAL`` seconds.
    """
    _changed_now(SOCIAL_CHANGED_KEY)
