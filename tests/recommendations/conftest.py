"""Fixtures shared by the serving tests (selectors, tags, API, tracking).

``isolated_serving`` and ``isolated_experiments`` live in tests/conftest.py.
"""

from __future__ import annotations

import pytest
from django.core.cache import caches

from tests.recommendations.store import Store, store_build, store_train


@pytest.fixture
def store(db, isolated_serving) -> Store:
    """The shared store, trained with item-kNN; its serving run is ``store.run``."""
    store = store_build()
    store.run = store_train()
    return store


@pytest.fixture
def redis_default(settings):
    """Django's own Redis cache (a real server, database 9) as the default cache,
    emptied before and after."""
    settings.CACHES = {
        **settings.CACHES,
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/9",
            "KEY_PREFIX": "redis-test",
        },
    }
    caches["default"].clear()
    yield caches["default"]
    caches["default"].clear()
