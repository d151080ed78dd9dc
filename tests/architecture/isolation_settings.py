"""Settings that load the recommendations app's models and nothing else of it.

The app's own ``ready()`` (checks, receivers) and the admin's autodiscovery would import
most of the app before a test could import one module first: here neither runs, so
:mod:`tests.architecture.test_imports` imports each module as the first of the app.
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    # The admin without autodiscovery: recommendations.admin is imported by the test.
    "django.contrib.admin.apps.SimpleAdminConfig",
    "tests.architecture.apps.BareRecommendationsConfig",
]
