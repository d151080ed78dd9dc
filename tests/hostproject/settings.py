"""A second host project: the suite's settings without the shop, plus a lending library.

Used by tests/recommendations/test_drop_in_host.py, which runs
tests/hostproject/host_checks.py in a subprocess with these settings.
"""

from __future__ import annotations

from tests.settings import *  # noqa: F403
from tests.settings import DATABASES, INSTALLED_APPS, TEMPLATES

INSTALLED_APPS = [app for app in INSTALLED_APPS if app != "shop"] + [
    "tests.hostproject.library.apps.LibraryConfig"
]
ROOT_URLCONF = "tests.hostproject.urls"
TEMPLATES = [
    {
        **TEMPLATES[0],
        "DIRS": [],
        "OPTIONS": {
            "context_processors": [
                p for p in TEMPLATES[0]["OPTIONS"]["context_processors"] if "shop" not in p
            ]
        },
    }
]
# Never share a test database with a suite running at the same time.
DATABASES = {"default": {**DATABASES["default"], "TEST": {"NAME": "test_recommendations_host"}}}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": ""}  # in memory
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
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
