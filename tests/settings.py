"""Settings of the test suite: the project's embedded defaults, runnable without DEBUG.

The defaults are strict whenever ``DEBUG`` is off, as it is unless set: a secret key is
required, cookies are HTTPS-only, plain HTTP is redirected and static files are served
from a collected manifest. The test client speaks plain HTTP and nothing is collected,
so those are relaxed here. The cache is local memory: the suite pins how many database
queries the serving path costs, and a database cache's reads would count among them.
tests/multiworker/ runs the real defaults (database cache) in several processes.
"""

from __future__ import annotations

import os

# Read by config.settings below, and by the worker processes some tests start.
os.environ.setdefault("SECRET_KEY", "tests-only-secret-key-never-used-outside-the-test-suite")

from config.settings import *  # noqa: F403
from config.settings import RECOMMENDATIONS, STORAGES

SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
SECURE_SSL_REDIRECT = False
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
        "OPTIONS": {"MAX_ENTRIES": 5000},
    }
}
# Tasks run eagerly in the test process, on the test database; the tests of the
# "process" runner say so themselves and point the process at that database.
RECOMMENDATIONS = {**RECOMMENDATIONS, "TRAINING_RUNNER": "celery"}

if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    # A test's commits need not wait for the disk: nothing of a test database must
    # survive a crash, and the suite's many transactional tests commit often.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c synchronous_commit=off"  # noqa: F405
