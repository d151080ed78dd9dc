"""The active version, loaded once per process and swapped when staff promote another.

Each process keeps the loaded :class:`ServingModel` in memory. At most every
``RELOAD_INTERVAL`` seconds it asks the database which run is active (one indexed
query); when that changed it loads the new artifact. A missing or corrupt artifact is
logged and the model already loaded keeps serving, so a bad file never takes the
store down; the load is tried again at each check until the file is readable.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.db import DatabaseError

from recommendations.artifacts import (
    Artifact,
    ArtifactError,
    UserLists,
    artifact_read,
    artifact_without_users,
)
from recommendations.conf import app_settings
from recommendations.engine.base import Recommender
from recommendations.models import Experiment, TrainingRun
from recommendations.serving.state import MAX_OTHER_RUNS, ServingState, process_state
from recommendations.tombstones import forgotten_user_pks

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServingModel:
    """A promoted training run ready to rank: recommenders plus key mappings."""

    run_id: int
    algorithm: str
    recommender: Recommender
    similar: Recommender
    trending: Recommender
    popularity: Recommender
    user_pks: np.ndarray
    item_pks: np.ndarray
    # Complements learned from baskets; None for artifacts written before it existed.
    bought_together: Recommender | None = None
    # Each training user's list computed at training time; None for older artifacts.
    user_lists: UserLists | None = None
    _user_rows: dict[Any, int] = field(default_factory=dict, repr=False, compare=False)
    _item_cols: dict[Any, int] = field(default_factory=dict, repr=False, compare=False)
    # Whether the artifact keys users and items by integers (else by strings): asked of
    # every key looked up, so decided once.
    _integer_keys: dict[str, bool] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._user_rows.update({pk: row for row, pk in enumerate(self.user_pks.tolist())})
        self._item_cols.update({pk: col for col, pk in enumerate(self.item_pks.tolist())})
        self._integer_keys.update(
            users=bool(np.issubdtype(self.user_pks.dtype, np.integer)),
            items=bool(np.issubdtype(self.item_pks.dtype, np.integer)),
        )

    @classmethod
    def from_artifact(cls, run_id: int, artifact: Artifact) -> ServingModel:
        """The serving model of a run, from its freshly loaded artifact, minus deleted users.

        Every way a model comes to serve (the active version, an experiment arm, the
        admin's preview, a rollback) loads it here, so the tombstones of deleted users
        apply to any artifact, however old; the artifact's recommenders change in place.
        """
        artifact = artifact_without_users(artifact, forgotten_user_pks()) or artifact
        return cls(
            run_id=run_id,
            algorithm=artifact.algorithm,
            recommender=artifact.recommender,
            similar=artifact.similar,
            trending=artifact.trending,
            popularity=artifact.popularity,
            user_pks=artifact.user_pks,
            item_pks=artifact.item_pks,
            bought_together=artifact.bought_together,
            user_lists=artifact.user_lists,
        )

    @staticmethod
    def _key(pk: Any, integer: bool) -> Any:
        # Keys come from URLs, rules and the database as str or int: match the artifact.
        if integer:
            try:
                return int(pk)
            except (TypeError, ValueError):
                return None
        return str(pk)

    def user_row(self, pk: Any) -> int | None:
        """Matrix row of a user seen in training, or None."""
        return self._user_rows.get(self._key(pk, self._integer_keys["users"]))

    def item_col(self, pk: Any) -> int | None:
        """Matrix column of an item known to the model, or None."""
        return self._item_cols.get(self._key(pk, self._integer_keys["items"]))

    def item_cols(self, pks: Iterable[Any]) -> list[int | None]:
        """:meth:`item_col` of each of ``pks``, in one pass (a history, a list)."""
        cols = self._item_cols
        if not self._integer_keys["items"]:
            return [cols.get(str(pk)) for pk in pks]
        result = []
        for pk in pks:
            try:
                result.append(cols.get(int(pk)))
            except (TypeError, ValueError):
                result.append(None)
        return result

    def item_pk(self, col: int) -> Any:
        """Primary key of the item in a matrix column."""
        return self.item_pks[int(col)].item()

    def item_pks_of(self, cols: Any) -> list[Any]:
        """Primary keys of many columns (-1 padding is skipped)."""
        cols = np.asarray(cols, dtype=np.intp).ravel()
        return self.item_pks[cols[cols >= 0]].tolist()


def model_of(serving_state: ServingState) -> ServingModel | None:
    """The active version as ``serving_state`` knows it, checked every ``RELOAD_INTERVAL``."""
    now = time.monotonic()
    if now - serving_state.checked_at < app_settings.RELOAD_INTERVAL:
        return serving_state.model
    with serving_state.lock:
        if now - serving_state.checked_at < app_settings.RELOAD_INTERVAL:
            return serving_state.model
        serving_state.checked_at = now
        try:
            active = (
                TrainingRun.objects.filter(is_active=True).values_list("pk", "artifact").first()
            )
        except DatabaseError as exc:
            logger.error("Cannot look up the active recommendations run: %s", exc)
            return serving_state.model
        if active is None:
            serving_state.model = None
            return None
        run_id, name = active
        # The loaded version is the run and its artifact name: forgetting a user
        # rewrites the active run's artifact under a new name (recommendations.privacy).
        if serving_state.model is not None and serving_state.loaded == active:
            return serving_state.model
        try:
            artifact = artifact_read(name)
        except ArtifactError as exc:
            # Keep serving what we have and try again at the next check: the file may
            # be restored. Logged as an error once per bad version, not every check.
            log = logger.debug if serving_state.failed == active else logger.error
            serving_state.failed = active
            log("Cannot load recommendations run %s, keeping the old one: %s", run_id, exc)
            return serving_state.model
        serving_state.failed, serving_state.loaded = None, active
        serving_state.model = ServingModel.from_artifact(run_id, artifact)
        logger.info("Serving recommendations run %s (%s).", run_id, artifact.algorithm)
        return serving_state.model


def active_model() -> ServingModel | None:
    """The promoted model of this process, reloaded when another version is promoted."""
    return model_of(process_state)


def reset() -> None:
    """Forget everything this process loaded and served, so the next call loads again."""
    process_state.reset()


def expire() -> None:
    """Make the next call check the active version now, not after ``RELOAD_INTERVAL``."""
    process_state.expire()


# -- other versions, for live experiments -------------------------------------------------


def run_model(run: TrainingRun) -> ServingModel | None:
    """The model of a given succeeded run (an experiment's arm), or None when unloadable.

    Artifacts never change once written, so a loaded run is kept by (id, artifact name)
    for the life of the process; only a few are kept, the oldest dropped first. A failed
    load is tried again after ``RELOAD_INTERVAL`` seconds.
    """
    active = active_model()
    if active is not None and active.run_id == run.pk:
        return active
    key = (run.pk, run.artifact)
    now = time.monotonic()
    with process_state.lock:
        kept = process_state.other_runs.get(key)
        if isinstance(kept, ServingModel):
            return kept
        if kept is not None and now - kept[1] < app_settings.RELOAD_INTERVAL:
            return None
        try:
            artifact = artifact_read(run.artifact)
        except ArtifactError as exc:
            logger.error("Cannot load recommendations run %s for an experiment: %s", run.pk, exc)
            entry: ServingModel | tuple[None, float] = (None, now)
        else:
            entry = ServingModel.from_artifact(run.pk, artifact)
        process_state.other_runs.pop(key, None)
        while len(process_state.other_runs) >= MAX_OTHER_RUNS:
            del process_state.other_runs[next(iter(process_state.other_runs))]
        process_state.other_runs[key] = entry
        return entry if isinstance(entry, ServingModel) else None


def active_experiment() -> Experiment | None:
    """The experiment running now, if any, re-read every ``RELOAD_INTERVAL`` seconds."""
    now = time.monotonic()
    if now - process_state.experiment_checked_at < app_settings.RELOAD_INTERVAL:
        return process_state.experiment
    with process_state.lock:
        if now - process_state.experiment_checked_at >= app_settings.RELOAD_INTERVAL:
            try:
                process_state.experiment = (
                    Experiment.objects.filter(active=True)
                    .select_related("control_run", "challenger_run")
                    .first()
                )
            except DatabaseError:
                # A failing lookup must not break the page: keep what we know.
                return process_state.experiment
            process_state.experiment_checked_at = now
        return process_state.experiment
