"""Celery tasks of the recommendations app: thin wrappers around services."""

from __future__ import annotations

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from recommendations.artifacts import ArtifactError
from recommendations.conf import app_settings
from recommendations.services import training_run_start_unless_locked
from recommendations.tombstones import forgotten_artifacts_rewrite

logger = logging.getLogger(__name__)


@shared_task(
    name="recommendations.tasks.training_run_task",
    # A worker killed mid-training (OOM, kill -9, deploy) leaves the message queued: the
    # redelivered task takes over the dead training's lock and trains again.
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=app_settings.TRAINING_SOFT_TIME_LIMIT,
    time_limit=app_settings.TRAINING_TIME_LIMIT,
)
def training_run_task(
    algorithms: list[str] | None = None, user_id: int | None = None
) -> int | None:
    """Train and maybe promote; returns the resulting run id, None if another training runs."""
    user = get_user_model()._default_manager.filter(pk=user_id).first() if user_id else None
    run = training_run_start_unless_locked(algorithms=algorithms, user=user)
    if run is None:
        return None
    logger.info("Training finished: run %s %s (%s).", run.pk, run.algorithm, run.status)
    return run.pk


@shared_task(
    name="recommendations.tasks.forgotten_artifacts_rewrite_task",
    acks_late=True,
    autoretry_for=(ArtifactError, OSError),
    retry_backoff=60,
    retry_backoff_max=3600,
    max_retries=8,
)
def forgotten_artifacts_rewrite_task() -> int:
    """Erase deleted users from every stored artifact; retried while the storage fails."""
    return len(forgotten_artifacts_rewrite())
