"""Fixtures shared by the whole suite."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.utils import translation

from recommendations import serving
from recommendations.rate_batches import batches
from recommendations.serving.near_cache import near_cache
from tests.factories import StaffFactory, UserFactory

# An Oscar shop with its own settings and virtualenv: run by tests/oscar/run.sh.
collect_ignore = ["oscar"]


@pytest.fixture(autouse=True)
def fast_password_hasher(settings):
    """Hash test passwords with MD5: the real hasher is slow on purpose."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def served_lists_forgotten():
    """No test sees the lists this process served in an earlier one (test dbs reuse keys)."""
    serving.process_state.reset(lists_only=True)
    yield
    serving.process_state.reset(lists_only=True)


@pytest.fixture(autouse=True)
def language_reset():
    """Each test starts in the default language: a request in German (LocaleMiddleware)
    leaves German active in the thread after it."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def private_artifacts(settings, tmp_path):
    """Trained artifacts under ``tmp_path``, never in the checkout's var/ folder."""
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "ARTIFACT_ROOT": tmp_path / "var"}
    return tmp_path / "var"


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def staff(db):
    return StaffFactory(username="staff")


@pytest.fixture
def user_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def staff_client(client, staff):
    client.force_login(staff)
    return client


@pytest.fixture(autouse=True)
def no_throttle_batches():
    """No test inherits the requests another test's throttles were allowed in advance
    (counted in another test's database or cache)."""
    batches.clear()


@pytest.fixture(autouse=True)
def no_near_cache():
    """No test inherits the values another test's near cache kept (from its cache)."""
    near_cache.clear()


@pytest.fixture
def isolated_serving(settings, tmp_path):
    """Artifacts under ``tmp_path``, an empty cache, no model loaded before or after."""
    settings.MEDIA_ROOT = tmp_path
    cache.clear()  # cached lists live there (and throttle counters, on an atomic cache)
    serving.process_state.reset(lists_only=True)
    serving.reset()
    yield
    serving.reset()


@pytest.fixture
def isolated_experiments(isolated_serving):
    """As ``isolated_serving``, and no live experiment remembered before or after."""
    serving.reset()
    yield
    serving.reset()
