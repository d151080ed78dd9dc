"""A web process loads the active version and the catalog at start (``selectors.warm_up``)."""

from __future__ import annotations

import logging

from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommendations import adapters, selectors
from recommendations.models import TrainingRun
from recommendations.serving.state import process_state
from tests.recommendations.store import buyer

UNREACHABLE_REDIS = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1
    }
}


def test_warm_up_loads_the_active_version_and_the_catalog(store):
    assert process_state.model is None and process_state.catalog is None

    selectors.warm_up()

    assert process_state.model is not None
    assert process_state.model.run_id == store.run.pk
    assert process_state.catalog is not None


def test_the_first_list_after_the_warm_up_loads_neither_the_version_nor_the_catalog(store):
    shopper = buyer(store.product(0, 0), username="first")
    selectors.warm_up()
    runs = connection.ops.quote_name(TrainingRun._meta.db_table)

    with CaptureQueriesContext(connection) as queries:
        recommendations = selectors.recommendations_for_user(user=shopper, n=6)

    assert recommendations
    assert not [q["sql"] for q in queries.captured_queries if f"FROM {runs}" in q["sql"]]


def test_an_unreachable_cache_leaves_the_load_to_the_first_request(store, settings, caplog):
    settings.CACHES = UNREACHABLE_REDIS

    with caplog.at_level(logging.WARNING, logger="recommendations.serving.pipeline"):
        selectors.warm_up()  # does not raise: a worker must still boot

    assert "not loaded at start" in caplog.text
    assert process_state.catalog is None


def test_the_first_list_after_the_warm_up_compiles_no_history_statement(store, monkeypatch):
    shopper = buyer(store.product(0, 0), username="compiled")
    # Another value of the setting, set without a signal as a process reads its own at
    # start: a new adapter, nothing compiled.
    monkeypatch.setattr(django_settings, "RECOMMENDATIONS", {**django_settings.RECOMMENDATIONS})
    compiled: list[int] = []
    original = adapters._history_statement

    def counted(adapter, limit, bought):
        compiled.append(limit)
        return original(adapter, limit, bought)

    monkeypatch.setattr(adapters, "_history_statement", counted)
    selectors.warm_up()
    assert compiled  # the warm-up compiled them
    compiled.clear()

    selectors.recommendations_for_user(user=shopper, n=6)
    assert selectors.shopper_history(user=shopper).rows  # the whole history too

    assert compiled == []
