"""Fixtures shared by the serving tests (selectors, tags, API, tracking)."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from recommendations import experiments, serving
from tests.recommendations.store import Store, store_build, store_train


@pytest.fixture
def isolated_serving(settings, tmp_path):
    """Artifacts under ``tmp_path``, an empty cache, no model loaded before or after."""
    settings.MEDIA_ROOT = tmp_path
    cache.clear()  # cached lists and throttle counters live there
    serving.reset()
    yield
    serving.reset()


@pytest.fixture
def isolated_experiments(isolated_serving):
    """As ``isolated_serving``, and no live experiment remembered before or after."""
    experiments.reset()
    yield
    experiments.reset()


@pytest.fixture
def store(db, isolated_serving) -> Store:
    """The shared store, trained with item-kNN; its serving run is ``store.run``."""
    store = store_build()
    store.run = store_train()
    return store
