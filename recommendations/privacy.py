"""What the recommendations app holds about one user: export it, or forget it at once.

The app keeps three things about a user besides the host's own events: their row in
the serving models (the interaction row every recommender of an artifact stores, and
a feature row for hybrid models), the rows of this app's models that point at the user
(impressions, clicks, training runs they started), and values cached for them.

Forgetting writes a new artifact of every serving run (the active one and the arms of
a live experiment) without the user's rows and key, and points the run at it inside
the caller's transaction. Every process compares the active run's artifact name on
its next version check, so the user is gone from all of them within
``RELOAD_INTERVAL`` seconds, and from this process at once. Item-level statistics the
user contributed to (similarities, popularity) stay until the next training, which no
longer reads their events.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import models, transaction
from django.db.models import Q

from recommendations import experiments, serving
from recommendations.adapters import get_adapter
from recommendations.artifacts import (
    RECOMMENDER_KEYS,
    artifact_delete,
    artifact_read,
    artifact_write,
)
from recommendations.engine.base import Recommender
from recommendations.models import Click, Experiment, Impression, TrainingRun
from recommendations.selectors import served_forget, user_cache_index_key, user_cache_key
from recommendations.serving import ServingModel, active_model

logger = logging.getLogger(__name__)

# Learned state indexed by the user row, in every engine recommender; anything else a
# recommender learns is indexed by item (tests/recommendations/test_privacy.py checks).
USER_STATE = ("interactions_", "timestamps_", "user_features_", "user_norms_")
# Indexed by the user row and column: who follows whom (the social models).
USER_BY_USER_STATE = ("social_",)


# -- export -------------------------------------------------------------------------------


def _user_foreign_keys() -> list[tuple[type[models.Model], models.Field]]:
    """Every (model, field) of this app that points at the user, but the tracking models."""
    user_model = get_user_model()
    return [
        (model, field)
        for model in apps.get_app_config("recommendations").get_models()
        if model not in (Impression, Click)
        for field in model._meta.get_fields()
        if field.concrete and field.is_relation and field.related_model is user_model
    ]


def _impressions(user_pk: Any) -> list[dict[str, Any]]:
    """Every block shown to the user while they consented, with the version that chose it."""
    rows = (
        Impression.objects.filter(user=user_pk)
        .order_by("created_at", "pk")
        .values(
            "token", "block", "item_pks", "run_id", "run__algorithm", "experiment_id", "bucket",
            "created_at",
        )
    )  # fmt: skip
    return [
        {
            "impression": row["token"],
            "block": row["block"],
            "items_shown": row["item_pks"],
            "run": row["run_id"],
            "algorithm": row["run__algorithm"],
            "experiment": row["experiment_id"],
            "experiment_group": row["bucket"],
            "shown_at": row["created_at"],
        }
        for row in rows
    ]


def _clicks(user_pk: Any) -> list[dict[str, Any]]:
    """Every recommended item the user followed, with the block it was shown in."""
    rows = (
        Click.objects.filter(user=user_pk)
        .order_by("created_at", "pk")
        .values("pk", "impression_id", "impression__block", "position", "item_pk", "created_at")
    )
    return [
        {
            "click": row["pk"],
            "impression": row["impression_id"],
            "block": row["impression__block"],
            "position": row["position"],
            "item": row["item_pk"],
            "clicked_at": row["created_at"],
        }
        for row in rows
    ]


def _model_row(model: ServingModel | None, user_pk: Any) -> dict[str, Any] | None:
    """The user's interaction row in a serving model, as item keys and weights."""
    if model is None:
        return None
    row = model.user_row(user_pk)
    interactions: list[dict[str, Any]] = []
    matrix = getattr(model.recommender, "interactions_", None)
    if row is not None and matrix is not None:
        start, stop = matrix.indptr[row], matrix.indptr[row + 1]
        pairs = zip(matrix.indices[start:stop], matrix.data[start:stop], strict=True)
        interactions = [
            {"item": model.item_pk(col), "weight": round(float(weight), 6)}
            for col, weight in sorted(pairs, key=lambda pair: -pair[1])
        ]
    return {
        "run": model.run_id,
        "algorithm": model.algorithm,
        "knows_user": row is not None,
        "interactions": interactions,
    }


def user_data_export(*, user: Any) -> dict[str, Any]:
    """Everything the recommendations app holds about ``user``, as JSON-ready data."""
    records = {
        f"{model._meta.label_lower}.{field.name}": list(
            model._default_manager.filter(**{field.name: user.pk}).order_by("pk").values()
        )
        for model, field in _user_foreign_keys()
    }
    return {
        "personalisation_consent": get_adapter().user_consents(user),
        "active_model": _model_row(active_model(), user.pk),
        "impressions": _impressions(user.pk),
        "clicks": _clicks(user.pk),
        "records": records,
        "cached": sorted(cache.get(user_cache_index_key(user.pk)) or []),
    }


# -- forget -------------------------------------------------------------------------------


def recommender_without_rows(recommender: Recommender, keep: np.ndarray) -> Recommender:
    """Drop the user rows not in ``keep`` (a boolean mask) from a recommender, in place."""
    rows = np.flatnonzero(keep)
    for key, value in list(vars(recommender).items()):
        if isinstance(value, Recommender):
            recommender_without_rows(value, keep)
        elif isinstance(value, list | tuple) and value and isinstance(value[0], Recommender):
            for part in value:
                recommender_without_rows(part, keep)
        elif key in USER_BY_USER_STATE and getattr(value, "shape", None) == (keep.size,) * 2:
            setattr(recommender, key, sp.csr_matrix(value[rows][:, rows]))
        elif key in USER_STATE and getattr(value, "shape", (None,))[0] == keep.size:
            setattr(
                recommender, key, sp.csr_matrix(value[rows]) if sp.issparse(value) else value[rows]
            )
    if hasattr(recommender, "n_users_"):
        recommender.n_users_ = int(rows.size)
    # Derived caches (user-kNN's weighted matrix) are rebuilt from the new state.
    recommender._after_load()
    return recommender


def _serving_runs() -> models.QuerySet[TrainingRun]:
    """The runs that may serve a request: the active one and live experiment arms."""
    arms = Experiment.objects.filter(active=True).values_list("control_run", "challenger_run")
    arm_pks = {pk for pair in arms for pk in pair if pk is not None}
    return TrainingRun.objects.filter(Q(is_active=True) | Q(pk__in=arm_pks)).exclude(artifact="")


def _run_forget(run: TrainingRun, user_pk: Any) -> str | None:
    """Write ``run``'s artifact without the user; the new name, or None if not in it."""
    artifact = artifact_read(run.artifact)
    key = ServingModel._key(user_pk, artifact.user_pks)
    keep = artifact.user_pks != key
    if keep.all():
        return None
    return artifact_write(
        run_id=run.pk,
        algorithm=artifact.algorithm,
        user_pks=artifact.user_pks[keep],
        item_pks=artifact.item_pks,
        **{
            name: recommender_without_rows(getattr(artifact, name), keep)
            for name in RECOMMENDER_KEYS
        },
    )


def user_cache_delete(*, user_pk: Any) -> None:
    """Delete every value cached for one user (after a consent change or deletion)."""
    index = user_cache_index_key(user_pk)
    names = cache.get(index) or []
    cache.delete_many([user_cache_key(user_pk, name) for name in names] + [index])
    served_forget(user_pk)


def _after_forget(user_pk: Any, old_artifacts: list[str]) -> None:
    """Once committed: drop caches and old files, and serve the new version here now."""
    user_cache_delete(user_pk=user_pk)
    for name in old_artifacts:
        artifact_delete(name)
    serving.expire()
    experiments.reset()
    serving.active_model()


def user_forget(*, user_pk: Any) -> list[TrainingRun]:
    """Remove a user from every serving model and from the cache; the runs rewritten.

    Call it in the transaction that deletes the user's events: the runs point at the
    new artifacts only if it commits. Raises ArtifactError when a serving artifact
    cannot be read, so the caller's transaction (and the account) stays as it was.
    """
    rewritten: list[TrainingRun] = []
    old_artifacts: list[str] = []
    new_artifacts: list[str] = []
    try:
        with transaction.atomic():
            # Locked, so two deletions at once rewrite one after the other, never from
            # the same old artifact (on SQLite the caller's earlier delete holds the lock).
            for run in _serving_runs().select_for_update().order_by("pk"):
                name = _run_forget(run, user_pk)
                if name is None:
                    continue
                new_artifacts.append(name)
                old_artifacts.append(run.artifact)
                run.artifact = name
                run.save(update_fields=["artifact"])
                rewritten.append(run)
    except BaseException:
        for name in new_artifacts:
            artifact_delete(name)
        raise
    transaction.on_commit(lambda: _after_forget(user_pk, old_artifacts), robust=True)
    logger.info("Forgot user %s in %d serving run(s).", user_pk, len(rewritten))
    return rewritten
