"""Fixtures of the storefront tests."""

from __future__ import annotations

import pytest
from django.core.cache import cache


@pytest.fixture
def fresh_cache():
    """An empty cache before and after: popular and trending products are cached lists."""
    cache.clear()
    yield
    cache.clear()
