"""Fixtures shared by the serving tests (selectors, tags, API, tracking).

``isolated_serving`` and ``isolated_experiments`` live in tests/conftest.py.
"""

from __future__ import annotations

import pytest

from tests.recommendations.store import Store, store_build, store_train


@pytest.fixture
def store(db, isolated_serving) -> Store:
    """The shared store, trained with item-kNN; its serving run is ``store.run``."""
    store = store_build()
    store.run = store_train()
    return store
