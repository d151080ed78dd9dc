"""The instances shown (labels, pages, prices) are read with the catalog, not per list."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommendations import selectors
from recommendations.serving import catalog as serving_catalog
from recommendations.serving.state import process_state
from shop.models import Product
from tests.recommendations.store import buyer, item_names

pytestmark = pytest.mark.usefixtures("isolated_serving")


def _product_queries(queries: CaptureQueriesContext) -> list[str]:
    """The queries of ``queries`` that read product rows."""
    table = connection.ops.quote_name(Product._meta.db_table)
    return [q["sql"] for q in queries.captured_queries if f"FROM {table}" in q["sql"]]


def _instance_queries(queries: CaptureQueriesContext) -> list[str]:
    """The queries of ``queries`` that read product rows by key (``display_items``)."""
    return [sql for sql in _product_queries(queries) if " IN (" in sql]


def _checkout(client, capture, user, product) -> None:
    """``user`` buys ``product`` through the shop's checkout, its callbacks run on commit."""
    client.force_login(user)
    client.post(f"/cart/add/{product.pk}/", {"quantity": 1})
    with capture(execute=True):
        assert client.post("/checkout/").status_code == 302


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


def test_a_checkout_that_sells_out_an_item_rereads_only_the_available_items(
    store, client, django_capture_on_commit_callbacks
):
    alice = buyer(store.product(0, 0))
    first = selectors.recommendations_for_user(user=alice, n=4)  # loads the catalog
    held = process_state.catalog.instances
    sold = first[0].item
    Product.objects.filter(pk=sold.pk).update(stock_quantity=1)
    _checkout(client, django_capture_on_commit_callbacks, buyer(username="bob"), sold)

    with CaptureQueriesContext(connection) as queries:
        again = selectors.recommendations_for_user(user=alice, n=4)  # no waiting

    assert Product.objects.get(pk=sold.pk).stock_quantity == 0
    assert sold.name not in item_names(again)
    assert len(again) == 4
    # The available items are read again, the instances are kept: no read by key.
    assert len(_product_queries(queries)) == 1
    assert _instance_queries(queries) == []
    assert process_state.catalog.instances is held
    assert all(r.label == r.item.name for r in again)


def test_a_title_edit_after_a_checkout_shows_the_new_title(
    store, client, django_capture_on_commit_callbacks
):
    selectors.recommendations_for_user(user=buyer(store.product(0, 0), username="first"), n=6)
    partner = store.product(1, 0)  # bought with A0 by the pair customers
    bob = buyer(username="bob")
    _checkout(client, django_capture_on_commit_callbacks, bob, store.product(3, 0))
    # The availability is read again, the instances are kept.
    selectors.recommendations_for_user(user=buyer(store.product(0, 0), username="second"), n=6)
    partner.name = "Renamed"
    partner.save()  # a catalog change: the instances are read again

    recommendations = selectors.recommendations_for_user(
        user=buyer(store.product(0, 0), username="third"), n=6
    )

    shown = {r.item.pk: r for r in recommendations}
    assert shown[partner.pk].label == "Renamed"
    assert shown[partner.pk].item.name == "Renamed"
