"""The near cache over Django's local-memory cache: only this process writes it."""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache

from recommendations.rules import RULES_VERSION_KEY, rules_changed
from recommendations.services import availability_changed, catalog_changed, social_changed
from recommendations.serving import near_cache as near
from recommendations.serving.keys import (
    AVAILABILITY_CHANGED_KEY,
    CATALOG_CHANGED_KEY,
    SOCIAL_CHANGED_KEY,
    user_generation_bump,
    user_generation_key,
)
from recommendations.serving.near_cache import near_cache, near_get_many
from tests.recommendations.store import cache_calls


@pytest.fixture(autouse=True)
def slow_machine_proof(settings):
    """Values kept a minute at most (``RELOAD_INTERVAL``), however slow the machine."""
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "RELOAD_INTERVAL": 60}
    cache.clear()


@pytest.fixture
def reads(monkeypatch):
    """The keys of each read of the cache itself."""
    return cache_calls(monkeypatch, ("get", "get_many"))


def test_a_value_read_again_is_not_read_from_the_cache(reads):
    cache.set("a", {"x": 1})

    assert near_get_many(["a", "missing"]) == {"a": {"x": 1}}
    assert near_get_many(["missing", "a"]) == {"a": {"x": 1}}

    assert reads == [("get_many", ["a", "missing"])]  # missing keys are kept missing too
    assert near_cache.local and not near_cache.off


def test_a_value_is_kept_reload_interval_seconds_at_most(monkeypatch, reads):
    cache.set("a", 1)
    assert near_get_many(["a"]) == {"a": 1}
    cache.set("a", 2)  # behind the app's back (a host's own write): not told
    assert near_get_many(["a"]) == {"a": 1}

    later = time.monotonic() + 60
    monkeypatch.setattr(near.time, "monotonic", lambda: later)

    assert near_get_many(["a"]) == {"a": 2}
    assert len(reads) == 2


@pytest.mark.parametrize(
    ("write", "key"),
    [
        (catalog_changed, CATALOG_CHANGED_KEY),
        (availability_changed, AVAILABILITY_CHANGED_KEY),
        (social_changed, SOCIAL_CHANGED_KEY),
    ],
)
def test_a_change_mark_written_by_the_app_is_read_at_once(write, key):
    assert near_get_many([key]) == {}

    write()

    assert near_get_many([key])[key] == pytest.approx(time.time(), abs=60)


@pytest.mark.django_db
def test_new_rules_are_read_at_once():
    before = near_get_many([RULES_VERSION_KEY]).get(RULES_VERSION_KEY)

    rules_changed()

    after = near_get_many([RULES_VERSION_KEY]).get(RULES_VERSION_KEY)
    assert after is not None and after != before


def test_a_new_generation_is_read_at_once():
    key = user_generation_key(7)
    cache.set(key, 1)
    assert near_get_many([key]) == {key: 1}

    user_generation_bump(7)  # a deletion or a consent change

    assert near_get_many([key]).get(key) != 1


def test_the_setting_turned_off_reads_the_cache_every_time(settings, reads):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "NEAR_CACHE": False}
    cache.set("a", 1)

    assert near_get_many(["a"]) == {"a": 1}
    cache.set("a", 2)
    assert near_get_many(["a"]) == {"a": 2}

    assert len(reads) == 2 and near_cache.off and not near_cache.local


def test_a_full_near_cache_starts_again_and_still_sees_writes(monkeypatch, reads):
    monkeypatch.setattr(near, "MAX_KEPT", 2)
    cache.set("a", 1)
    assert near_get_many(["a", "b"]) == {"a": 1}
    assert near_get_many(["c"]) == {}  # full: what was kept goes, names and values

    cache.set("a", 2)
    near_cache.forget(["a"])  # a write of this process, after the names were dropped

    assert near_get_many(["a"]) == {"a": 2}
    assert len(near_cache.values) <= 2
