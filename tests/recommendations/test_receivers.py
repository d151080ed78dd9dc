"""Another process's writes keep the shared cache current, though it never served a list."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import call_command

from recommendations import selectors, serving
from recommendations.serving import pipeline
from recommendations.serving.keys import UserCache
from shop.models import CustomerProfile
from tests.factories import (
    CategoryFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    UserFactory,
)
from tests.processes import database_environment

ROOT = Path(__file__).resolve().parents[2]
SHARED_CACHE = {
    "default": {
        "BACKEND": "django.core.cache.backends.db.DatabaseCache",
        "LOCATION": "django_cache",
    }
}


@pytest.fixture
def shared_cache(transactional_db, settings, tmp_path):
    """The database cache of config.settings, which a manage.py process uses too."""
    settings.CACHES = SHARED_CACHE
    settings.MEDIA_ROOT = tmp_path / "media"
    call_command("createcachetable", verbosity=0)
    cache.clear()
    serving.reset()
    yield
    cache.clear()
    serving.reset()


def _manage_shell(code: str, tmp_path: Path) -> None:
    """Run ``code`` in ``manage.py shell`` on the test database: a process that never served."""
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SQLITE_PATH"}},
        **database_environment(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "SECRET_KEY": "tests-only-secret-key-never-used-outside-the-test-suite",
        "VAR_DIR": str(tmp_path / "var"),
        "PYTHONPATH": str(ROOT),
    }
    env.pop("CACHE_URL", None)  # the default: the database cache
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=120,
    )


@pytest.fixture
def shopper(shared_cache):
    category = CategoryFactory()
    products = [ProductFactory(category=category) for _ in range(6)]
    user = UserFactory()
    OrderLineFactory(order=OrderFactory(user=user), product=products[0])
    return user, products


def test_an_event_saved_by_another_process_reaches_the_cached_history(shopper, tmp_path):
    user, products = shopper
    before = selectors.shopper_history(user=user)
    assert products[3].pk not in before.viewed()

    _manage_shell(
        "from shop.models import ProductView; "
        f"ProductView.objects.create(user_id={user.pk}, product_id={products[3].pk})",
        tmp_path,
    )

    history = selectors.shopper_history(user=user)
    assert history.digests is not None  # read from the cache, not the database ...
    assert history.viewed() == [products[3].pk]  # ... which the other process updated


def _computations(monkeypatch):
    calls = []
    original = pipeline.candidates_choose

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "candidates_choose", counting)
    return calls


@pytest.mark.parametrize(
    "change",
    [
        "from recommendations.privacy import user_cache_delete; user_cache_delete(user_pk={pk})",
        "from shop.models import CustomerProfile; "
        "profile = CustomerProfile.objects.get(user_id={pk}); "
        "profile.personalisation_consent = False; profile.save()",
    ],
    ids=["deletion", "consent"],
)
def test_a_change_in_another_process_leaves_every_cached_list_behind(
    shopper, tmp_path, monkeypatch, change
):
    user, _products = shopper
    CustomerProfile.objects.update_or_create(user=user, defaults={"personalisation_consent": True})
    first = selectors.recommendations_for_user(user=user, n=4)
    generation = UserCache.of(user.pk).generation
    calls = _computations(monkeypatch)
    selectors.recommendations_for_user(user=user, n=4)
    assert calls == []  # served from this process's memory

    _manage_shell(change.format(pk=user.pk), tmp_path)

    again = selectors.recommendations_for_user(user=user, n=4)
    assert UserCache.of(user.pk).generation != generation
    assert calls == [1]  # computed again: nothing of the old generation was served
    assert len(again) == len(first)
