"""A second host project: a lending library, configured as ``startproject`` would be.

Nothing comes from the demo's settings, so a setting the app silently needs from them
fails here. Used by tests/recommendations/test_drop_in_host.py, which runs
tests/hostproject/host_checks.py in a subprocess with these settings (and
base_checks.py with settings_base.py).
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent
SECRET_KEY = "library-host-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "tests.hostproject.library.apps.LibraryConfig",
    "recommendations",
]
MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "recommendations.middleware.ImpressionMiddleware",
]
ROOT_URLCONF = "tests.hostproject.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
# The suite's database server when DATABASE_URL names one (a test database of its own,
# so a suite running at the same time is never clobbered), else SQLite in memory.
if os.environ.get("DATABASE_URL"):
    _database = dj_database_url.parse(os.environ["DATABASE_URL"])
    _database["TEST"] = {"NAME": f"test_{_database['NAME']}_host_{os.getpid()}"}
else:
    _database = {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}
DATABASES = {"default": _database}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}

RECOMMENDATIONS = {
    "CATALOG": {
        "MODEL": "library.Book",
        "AVAILABLE": {"is_available": True},
        "CATEGORY_FIELD": "genre",
        "LABEL_FIELD": "title",
        "TEXT_FIELDS": ["title"],
    },
    "CONSENT_FIELD": None,
    # ROLE "purchase": a book already borrowed is not recommended again; VERB words reasons.
    "EVENT_SOURCES": [
        {
            "NAME": "loan",
            "ROLE": "purchase",
            "VERB": "borrowed",
            "MODEL": "library.Loan",
            "USER_FIELD": "reader",
            "ITEM_FIELD": "book",
            "TIME_FIELD": "borrowed_on",
        }
    ],
    "ALGORITHMS": {"item_knn": {}},
    # Readers follow each other's shelves (the social models read it).
    "SOCIAL": {
        "MODEL": "library.Follow",
        "FOLLOWER_FIELD": "follower",
        "FOLLOWED_FIELD": "followed",
        "WEIGHT_FIELD": "weight",
        "TIME_FIELD": "created_at",
    },
    # A tiny library: two readers of a genre make its books trend.
    "TRUST": {"MIN_SUPPORT": 2},
    "MAX_PER_CATEGORY": 2,
}
