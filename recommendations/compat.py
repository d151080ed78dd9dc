"""Optional dependencies: what the app uses of Celery, whether or not it is installed.

The read path (template tags, selectors, admin) and the training command work with the
base install; the ``[celery]`` extra adds the worker task (:mod:`recommendations.tasks`).
"""

from __future__ import annotations

try:
    from celery.exceptions import SoftTimeLimitExceeded
    from kombu.exceptions import OperationalError as BrokerUnavailable
except ImportError:
    CELERY_INSTALLED = False

    class SoftTimeLimitExceeded(Exception):
        """Never raised: without Celery no task has a soft time limit."""

    class BrokerUnavailable(Exception):
        """Never raised: without Celery there is no broker to fail."""

else:
    CELERY_INSTALLED = True

__all__ = ["CELERY_INSTALLED", "BrokerUnavailable", "SoftTimeLimitExceeded"]
