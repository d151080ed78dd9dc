"""The library host on the base install: no Django REST framework, no Celery, no API URLs."""

from __future__ import annotations

from tests.hostproject.settings import *  # noqa: F403
from tests.hostproject.settings import INSTALLED_APPS

INSTALLED_APPS = [
    app for app in INSTALLED_APPS if app not in {"rest_framework", "drf_spectacular"}
]
ROOT_URLCONF = "tests.hostproject.urls_base"
REST_FRAMEWORK: dict = {}
