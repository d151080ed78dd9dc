"""Business rules at serve time: availability, cart, repeat purchases, variety, pins."""

from __future__ import annotations

import time
from collections import Counter
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommendations import rules, selectors
from recommendations.models import ItemRule
from recommendations.rules import RULES_VERSION_KEY, rules_changed
from tests.factories import OrderFactory, OrderLineFactory, UserFactory

pytestmark = pytest.mark.usefixtures("isolated_serving")


def _pks(recommendations):
    return [r.item.pk for r in recommendations]


def test_unavailable_items_are_never_shown(store):
    inactive, sold_out = store.product(0, 0), store.product(1, 0)
    inactive.is_active = False
    inactive.save()
    sold_out.stock_quantity = 0
    sold_out.save()

    lists = [
        selectors.trending_products(n=20),
        selectors.recommendations_for_session(item_pks=[store.product(7, 0).pk], n=20),
    ]
    # C0's neighbours only (A0 and B0 among them), however many that leaves.
    similar = selectors.similar_products(item=store.product(2, 0), n=20)

    for recommendations in lists:
        assert len(recommendations) == 20
        assert not {inactive.pk, sold_out.pk} & set(_pks(recommendations))
    assert len(similar) >= 4
    assert not {inactive.pk, sold_out.pk} & set(_pks(similar))


def test_items_in_the_cart_are_never_shown(store):
    cart = [store.product(1, 0).pk, store.product(2, 0).pk]

    recommendations = selectors.recommendations_for_user(user=AnonymousUser(), n=20, exclude=cart)

    assert len(recommendations) == 20
    assert not set(cart) & set(_pks(recommendations))


def test_bought_items_are_not_shown_again_unless_their_category_repeats(store, settings):
    buyer = UserFactory(username="buyer")
    bought = [store.product(0, 1), store.product(3, 1)]
    order = OrderFactory(user=buyer)
    for product in bought:
        OrderLineFactory(order=order, product=product)

    assert not {p.pk for p in bought} & set(_pks(selectors.trending_products(n=40, user=buyer)))
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "REPEAT_PURCHASE_CATEGORIES": [str(store.categories[3].pk)],
        "MAX_PER_CATEGORY": None,
    }
    shown = set(_pks(selectors.trending_products(n=40, user=buyer)))
    assert store.product(3, 1).pk in shown
    assert store.product(0, 1).pk not in shown


def test_at_most_max_per_category_items_of_one_category(store, settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "MAX_PER_CATEGORY": 2}

    recommendations = selectors.trending_products(n=16)

    counts = Counter(r.item.category_id for r in recommendations)
    assert len(recommendations) == 16
    assert max(counts.values()) == 2


def test_a_category_filter_lifts_the_variety_limit(store):
    recommendations = selectors.trending_products(n=5, category=store.categories[2].pk)

    assert len(recommendations) == 5
    assert {r.item.category_id for r in recommendations} == {store.categories[2].pk}


def test_pins_are_inserted_at_their_position_with_their_own_reason(store):
    pinned = store.product(6, 4)
    ItemRule.objects.create(item_pk=str(pinned.pk), kind="pin", block="trending", position=1)

    recommendations = selectors.trending_products(n=4)

    assert recommendations[1].item == pinned
    assert recommendations[1].reason == "Picked by our team"
    assert recommendations[1].source == selectors.PINNED
    assert len(recommendations) == 4
    assert _pks(recommendations).count(pinned.pk) == 1


def test_pins_of_another_block_or_inactive_pins_do_not_apply(store):
    pinned = store.product(6, 4)
    ItemRule.objects.create(item_pk=str(pinned.pk), kind="pin", block="similar", position=0)
    ItemRule.objects.create(
        item_pk=str(pinned.pk), kind="pin", block="trending", position=0, active=False
    )

    assert pinned.pk not in _pks(selectors.trending_products(n=4))
    assert selectors.similar_products(item=store.product(0, 0), n=4)[0].item == pinned


def test_a_pinned_item_that_is_unavailable_is_not_shown(store):
    pinned = store.product(6, 4)
    pinned.stock_quantity = 0
    pinned.save()
    ItemRule.objects.create(item_pk=str(pinned.pk), kind="pin", block="", position=0)

    assert pinned.pk not in _pks(selectors.trending_products(n=8))


@pytest.mark.parametrize("block", ["", "trending"])
def test_excluded_items_are_left_out(store, block):
    top = selectors.trending_products(n=1)[0].item
    ItemRule.objects.create(item_pk=str(top.pk), kind="exclude", block=block)

    assert top.pk not in _pks(selectors.trending_products(n=40))


def test_an_exclude_in_one_block_leaves_the_others_alone(store):
    top = selectors.trending_products(n=1)[0].item
    ItemRule.objects.create(item_pk=str(top.pk), kind="exclude", block="similar")

    assert selectors.trending_products(n=1)[0].item == top


@pytest.mark.parametrize("kind", ["pin", "exclude"])
def test_a_mistyped_rule_key_is_ignored_not_an_error(store, kind):
    ItemRule.objects.create(item_pk="SKU-typo", kind=kind, block="")

    recommendations = selectors.trending_products(n=4)

    assert len(recommendations) == 4
    assert selectors.PINNED not in {r.source for r in recommendations}


def _rule_queries(queries):
    return [q for q in queries if '"recommendations_itemrule"' in q["sql"]]


def test_a_process_reads_the_rules_once_per_version(store):
    ItemRule.objects.create(item_pk=str(store.product(0, 0).pk), kind="exclude", block="")
    selectors.trending_products(n=4)

    with CaptureQueriesContext(connection) as queries:
        selectors.trending_products(n=8)
        selectors.recommendations_for_session(item_pks=[store.product(7, 0).pk], n=4)

    assert _rule_queries(queries) == []


def test_rules_saved_without_signals_apply_once_their_version_changes(store):
    top = selectors.trending_products(n=1)[0].item
    # Another process's change as this one sees it: a row, then the new version.
    ItemRule.objects.bulk_create([ItemRule(item_pk=str(top.pk), kind="exclude", block="")])
    assert selectors.trending_products(n=1)[0].item == top  # this version holds no rule

    rules_changed()

    assert top.pk not in _pks(selectors.trending_products(n=40))


def test_rules_are_read_again_when_the_cache_lost_their_version(store):
    top = selectors.trending_products(n=1)[0].item
    ItemRule.objects.bulk_create([ItemRule(item_pk=str(top.pk), kind="exclude", block="")])

    cache.delete(RULES_VERSION_KEY)  # evicted, or expired after RELOAD_INTERVAL

    assert top.pk not in _pks(selectors.trending_products(n=40))
    assert cache.get(RULES_VERSION_KEY) is not None  # offered for the other processes


def test_rules_held_reload_interval_seconds_are_read_again(store, settings, monkeypatch):
    # Whatever the token: a process may keep it in memory (the near cache) after the
    # cache dropped it.
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "RELOAD_INTERVAL": 60}
    top = selectors.trending_products(n=1)[0].item
    ItemRule.objects.bulk_create([ItemRule(item_pk=str(top.pk), kind="exclude", block="")])
    assert selectors.trending_products(n=1)[0].item == top  # the same version: held
    later = time.time() + 61
    monkeypatch.setattr(rules, "time", SimpleNamespace(time=lambda: later), raising=False)

    assert top.pk not in _pks(selectors.trending_products(n=40))
