"""What the recommendations app holds about one user: export it, or forget it at once.

The app keeps three things about a user besides the host's own events: their row in
the trained artifacts (the interaction row every recommender stores, and a feature
row for hybrid models), the rows of this app's models that point at the user
(impressions, clicks, training runs they started), and values cached for them.

Forgetting first records a tombstone (:mod:`recommendations.tombstones`): from then on
every artifact loaded to serve is stripped of the user, so no kept artifact promoted
again, experiment arm or preview knows them. It then writes a new artifact of every
serving run without the user's rows and points the run at it inside the caller's
transaction: every process compares the active run's artifact name on its next
version check, so the user is gone from all of them within ``RELOAD_INTERVAL``
seconds, and from this process at once. The other kept artifacts are rewritten
afterwards by a task; when the artifact storage is down, the deletion still stands
and every rewrite is retried later (the tombstone hides the user meanwhile). Item-level
statistics the user contributed to (similarities, popularity) stay until the next
training, which no longer reads their events.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from recommendations import serving
from recommendations.adapters import get_adapter
from recommendations.artifacts import ArtifactError, artifact_delete
from recommendations.artifacts import recommender_without_rows as recommender_without_rows
from recommendations.background import forgotten_artifacts_rewrite_enqueue
from recommendations.models import Click, Experiment, Impression, TrainingRun
from recommendations.serving import ServingModel, active_model
from recommendations.serving.history import history_forget
from recommendations.serving.keys import (
    BOUGHT_CACHE_NAME,
    FEATURES_CACHE_NAME,
    HISTORY_ROWS_CACHE_NAME,
    LISTS_CACHE_NAME,
    UserCache,
    user_generation_bump,
)
from recommendations.tombstones import (
    forgotten_user_pks,
    forgotten_user_record,
    run_artifact_forget,
)

logger = logging.getLogger(__name__)


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


# What each value cached for a user is, in words: the export names no internal key.
CACHED_KINDS = {
    HISTORY_ROWS_CACHE_NAME: _("your recent history (the items you viewed and bought)"),
    BOUGHT_CACHE_NAME: _("the items you bought"),
    FEATURES_CACHE_NAME: _("your profile as the recommendations see it"),
    LISTS_CACHE_NAME: _("recommendation lists shown to you"),
}


def _cached(user_pk: Any) -> list[str]:
    """What is cached for the user, described in words, never as internal cache keys.

    Every value the app caches for a user is one of these names in the user's current
    generation (each list sets ``LISTS_CACHE_NAME``): no index of keys is needed.
    """
    user_cache = UserCache.current(user_pk)
    if user_cache is None:
        return []
    found = user_cache.get_many(CACHED_KINDS)
    return sorted({str(CACHED_KINDS[name]) for name in found})


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
        "cached": _cached(user.pk),
    }


# -- forget -------------------------------------------------------------------------------


def _serving_runs() -> models.QuerySet[TrainingRun]:
    """The runs that may serve a request: the active one and live experiment arms."""
    arms = Experiment.objects.filter(active=True).values_list("control_run", "challenger_run")
    arm_pks = {pk for pair in arms for pk in pair if pk is not None}
    return TrainingRun.objects.filter(Q(is_active=True) | Q(pk__in=arm_pks)).exclude(artifact="")


def user_cache_delete(*, user_pk: Any) -> None:
    """Leave every value cached for one user behind (after a consent change or deletion).

    The user's generation moves on, so no process reads anything cached before, and
    the values under fixed names are deleted at once; the lists expire on their own.
    """
    old = UserCache.current(user_pk)
    user_generation_bump(user_pk)
    history_forget(user_pk)
    if old is not None:
        old.delete(CACHED_KINDS)
    serving.process_state.user_forget(user_pk)


def _after_forget(user_pk: Any, old_artifacts: list[str]) -> None:
    """Once committed: drop caches and old files, serve the new version here now, and
    erase the user from the other kept artifacts in the background."""
    user_cache_delete(user_pk=user_pk)
    for name in old_artifacts:
        artifact_delete(name)
    serving.expire()
    serving.active_model()
    forgotten_artifacts_rewrite_enqueue()


def user_forget(*, user_pk: Any) -> list[TrainingRun]:
    """Remove a user from every artifact and from the cache; the serving runs rewritten.

    Call it in the transaction that deletes the user's events: the tombstone and the
    runs' new artifacts stand only if it commits. When the artifact storage cannot be
    read or written, the user is forgotten all the same (the tombstone hides them from
    every artifact loaded) and the rewrite is left pending, retried after the next
    training or by ``forgotten_artifacts_rewrite_task``.
    """
    forgotten_user_record(user_pk=user_pk)
    # Users whose earlier rewrite failed go too, or this rewrite would keep their rows.
    pending = forgotten_user_pks(pending=True)
    rewritten: list[TrainingRun] = []
    old_artifacts: list[str] = []
    new_artifacts: list[str] = []
    try:
        with transaction.atomic():
            # Locked, so two deletions at once rewrite one after the other, never from
            # the same old artifact (on SQLite the caller's earlier delete holds the lock).
            for run in _serving_runs().select_for_update().order_by("pk"):
                name = run_artifact_forget(run, pending)
                if name is None:
                    continue
                new_artifacts.append(name)
                old_artifacts.append(run.artifact)
                run.artifact = name
                run.save(update_fields=["artifact"])
                rewritten.append(run)
    except BaseException as exc:
        with contextlib.suppress(OSError):  # a storage that is down keeps its litter
            for name in new_artifacts:
                artifact_delete(name)
        if not isinstance(exc, ArtifactError | OSError):
            raise
        logger.warning(
            "Forgot user %s; the artifact storage failed, their artifacts are rewritten later: %s",
            user_pk,
            exc,
        )
        rewritten, old_artifacts = [], []
    transaction.on_commit(lambda: _after_forget(user_pk, old_artifacts), robust=True)
    logger.info("Forgot user %s in %d serving run(s).", user_pk, len(rewritten))
    return rewritten
