"""The instances shown (labels, pages, prices) are read with the catalog, not per list."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommendations import selectors
from recommendations.serving import catalog as serving_catalog
from shop.models import Product
from tests.recommendations.store import buyer, item_names

pytestmark = pytest.mark.usefixtures("isolated_serving")


def _instance_queries(queries: CaptureQueriesContext) -> list[str]:
    """The queries of ``queries`` that read product rows by key (``display_items``)."""
    table = connection.ops.quote_name(Product._meta.db_table)
    return [
        q["sql"]
        for q in queries.captured_queries
        if f"FROM {table}" in q["sql"] and " IN (" in q["sql"]
    ]


def test_a_cold_list_after_the_catalog_is_loaded_reads_no_instance(store):
    first = buyer(store.product(0, 0), username="first")
    second = buyer(store.product(2, 0), username="second")
    selectors.recommendations_for_user(user=first, n=6)  # loads the model and the catalog

    with CaptureQueriesContext(connection) as queries:
        recommendations = selectors.recommendations_for_user(user=second, n=6)

    assert recommendations
    assert _instance_queries(queries) == []
    assert all(r.label == r.item.name for r in recommendations)


def test_a_catalog_bigger_than_the_limit_reads_the_instances_a_list_shows(store, monkeypatch):
    monkeypatch.setattr(serving_catalog, "INSTANCES_PRELOAD_MAX", 3)
    first = buyer(store.product(0, 0), username="first")
    second = buyer(store.product(2, 0), username="second")
    selectors.recommendations_for_user(user=first, n=6)

    with CaptureQueriesContext(connection) as queries:
        recommendations = selectors.recommendations_for_user(user=second, n=6)

    assert recommendations
    assert len(_instance_queries(queries)) == 1
    assert all(r.label == r.item.name for r in recommendations)


def test_a_catalog_change_shows_the_changed_label_and_price(store):
    selectors.recommendations_for_user(user=buyer(store.product(0, 0), username="first"), n=6)
    partner = store.product(1, 0)  # bought with A0 by the pair customers
    shopper = buyer(store.product(0, 0), username="second")
    partner.name, partner.price = "Renamed", Decimal("12.34")
    partner.save()  # a catalog change: the catalog is read again

    recommendations = selectors.recommendations_for_user(user=shopper, n=6)

    shown = {r.item.pk: r for r in recommendations}
    assert "Renamed" in item_names(recommendations)
    assert shown[partner.pk].label == "Renamed"
    assert Decimal(shown[partner.pk].price) == Decimal("12.34")
