"""Settings of the web processes and the Celery worker that tests/multimachine/ starts.

The demo's production settings (``config.settings``: the database, Redis, the broker and
the artifact bucket from the environment) with two fast algorithms, a one-second
``RELOAD_INTERVAL`` and static files served uncollected (the admin pages need them).
"""

from __future__ import annotations

from config.settings import *  # noqa: F403
from config.settings import RECOMMENDATIONS, STORAGES

RELOAD_INTERVAL = 1
RECOMMENDATIONS = {
    **RECOMMENDATIONS,
    "ALGORITHMS": {"popularity": {}, "item_knn": {"k": 20}},
    # What these processes prove is not the model search: trainings stay quick.
    "SELECTION": {"ENABLED": False},
    "RELOAD_INTERVAL": RELOAD_INTERVAL,
}
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
