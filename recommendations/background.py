"""Work handed to the Celery worker, or done in this process when Celery is not installed.

Kept apart from :mod:`recommendations.services` because the tasks call the services:
the services never import the tasks, and this module imports both.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from recommendations.compat import CELERY_INSTALLED
from recommendations.services import TrainingLocked, training_run_start

if CELERY_INSTALLED:
    from recommendations.tasks import training_run_task

logger = logging.getLogger(__name__)


def training_run_enqueue(*, user: Any = None, algorithms: list[str] | None = None) -> None:
    """Queue a training on the Celery worker once the current transaction commits.

    Without Celery installed, train in this process then instead (a training already
    running makes it a no-op, as for the task).
    """
    if not CELERY_INSTALLED:
        transaction.on_commit(lambda: _training_run_unless_locked(algorithms, user))
        return
    user_id = user.pk if getattr(user, "is_authenticated", False) else None
    transaction.on_commit(lambda: training_run_task.delay(algorithms=algorithms, user_id=user_id))


def _training_run_unless_locked(algorithms: list[str] | None, user: Any) -> None:
    try:
        training_run_start(algorithms=algorithms, user=user)
    except TrainingLocked as exc:
        logger.info("Skipping training: %s", exc)
