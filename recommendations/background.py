"""Work handed to the Celery worker, or done in this process when Celery is not installed.

Kept apart from :mod:`recommendations.services` because the tasks call the services:
the services never import the tasks, and this module imports both.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from recommendations.artifacts import ArtifactError
from recommendations.compat import CELERY_INSTALLED, BrokerUnavailable
from recommendations.conf import app_settings
from recommendations.services import (
    training_lock_ensure_free,
    training_process_start,
    training_run_start_unless_locked,
)
from recommendations.tombstones import forgotten_artifacts_rewrite

if CELERY_INSTALLED:
    from recommendations.tasks import forgotten_artifacts_rewrite_task, training_run_task

logger = logging.getLogger(__name__)
#: Seconds the broker has to answer before a training is refused as not queued.
BROKER_CHECK_TIMEOUT = 5.0


class TrainingQueueUnavailable(RuntimeError):
    """The Celery broker cannot be reached: no training was queued."""


def training_run_enqueue(*, user: Any = None, algorithms: list[str] | None = None) -> None:
    """Start a training in the background once the current transaction commits.

    On a Celery worker, or with ``TRAINING_RUNNER = "process"`` in a process of its own
    (no broker needed); either way the caller returns at once. Without Celery installed
    and no process runner, it trains in this process after the commit instead. Raises
    TrainingLocked while a training holds the lock, and TrainingQueueUnavailable when the
    Celery broker does not answer, so staff hear it now rather than never.
    """
    training_lock_ensure_free()
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    if app_settings.TRAINING_RUNNER == "process":
        transaction.on_commit(
            lambda: training_process_start(algorithms=algorithms, user_id=user_id)
        )
    elif not CELERY_INSTALLED:
        transaction.on_commit(
            lambda: training_run_start_unless_locked(algorithms=algorithms, user=user)
        )
    else:
        _broker_check()
        transaction.on_commit(lambda: _training_task_send(algorithms, user_id))


def _broker_check() -> None:
    """Raise TrainingQueueUnavailable unless the workers' broker answers now: staff hear
    it at once, instead of an error page or a task lost after the commit. Eager tasks
    (no broker) pass."""
    app = training_run_task.app
    if app.conf.task_always_eager:
        return
    # One attempt, and each socket operation bounded too: kombu's own timeout only stops
    # retrying, and Redis's sockets wait forever by default (a broker that accepts and
    # never answers would hang the request).
    seconds = BROKER_CHECK_TIMEOUT
    connection = app.connection_for_write(
        connect_timeout=seconds,
        transport_options={"socket_connect_timeout": seconds, "socket_timeout": seconds},
    )
    try:
        with connection:
            connection.ensure_connection(max_retries=0, timeout=seconds)
    except (BrokerUnavailable, OSError, *connection.connection_errors) as exc:
        raise TrainingQueueUnavailable(f"The Celery broker cannot be reached: {exc}") from exc


def _training_task_send(algorithms: list[str] | None, user_id: Any) -> None:
    """Queue the training task; a broker lost since :func:`_broker_check` is logged, as
    the caller has already returned."""
    try:
        training_run_task.delay(algorithms=algorithms, user_id=user_id)
    except BrokerUnavailable:
        logger.exception("Could not queue the training: the Celery broker went away.")


def forgotten_artifacts_rewrite_enqueue() -> None:
    """Erase deleted users from the kept artifacts: on a Celery worker (retried while the
    storage fails), or here and now without Celery, where a failure waits for the next
    training (the tombstones already keep the users out of every loaded artifact)."""
    if CELERY_INSTALLED:
        forgotten_artifacts_rewrite_task.delay()
        return
    try:
        forgotten_artifacts_rewrite()
    except (ArtifactError, OSError):  # unreadable, or the storage is down
        logger.exception("Could not rewrite the artifacts of forgotten users; retried later.")
