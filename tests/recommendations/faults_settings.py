"""Settings of the Django processes the fault tests start, kill and inspect.

The test suite's settings, with the database and artifact folder from the environment
(``DATABASE_URL``, ``FAULTS_ARTIFACT_ROOT``), two fast algorithms, and an adapter that
can stop a training while it holds the lock (``FAULTS_BLOCK_MARKER``).
"""

from __future__ import annotations

import os

from tests.settings import *  # noqa: F403
from tests.settings import RECOMMENDATIONS

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
RECOMMENDATIONS = {
    **RECOMMENDATIONS,
    "ADAPTER": "tests.recommendations.faults_adapter.BlockingAdapter",
    "ARTIFACT_ROOT": os.environ["FAULTS_ARTIFACT_ROOT"],
    "ALGORITHMS": {"popularity": {}, "item_knn": {"k": 20}},
    # What these processes prove is not the model search: trainings stay quick.
    "SELECTION": {"ENABLED": False},
    "TRAINING_LOCK_STALE_AFTER": float(os.environ.get("FAULTS_STALE_AFTER", "120")),
}
