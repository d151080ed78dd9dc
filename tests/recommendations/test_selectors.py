"""The reads behind every block: layers, fallbacks, one query for the items."""

from __future__ import annotations

from collections import Counter

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommendations import selectors, serving
from recommendations.adapters import get_adapter
from recommendations.models import ItemRule, TrainingRun
from recommendations.privacy import user_cache_delete
from recommendations.services import training_run_start
from recommendations.serving import history as serving_history
from recommendations.serving import pipeline
from recommendations.serving.keys import BOUGHT_CACHE_NAME, user_cache_key
from tests.factories import (
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    ProductViewFactory,
    UserFactory,
)
from tests.recommendations.store import buyer, caches_clear, item_names, store_build

pytestmark = pytest.mark.usefixtures("isolated_serving")


@pytest.fixture
def untrained_store(db):
    return store_build()


def test_personal_list_follows_co_purchases_and_explains_with_own_purchase(store):
    alice = buyer(store.product(0, 0))

    recommendations = selectors.recommendations_for_user(user=alice, n=4)

    assert recommendations[0].source == selectors.PERSONAL
    # A0 was bought with B0 and with H0 by the pair customers.
    assert set(item_names(recommendations[:2])) == {"B0", "H0"}
    assert recommendations[0].reason == "Because you bought A0"
    assert "A0" not in item_names(recommendations)


def test_purchases_since_training_change_the_list_without_retraining(store):
    alice = buyer(store.product(0, 0))
    before = selectors.recommendations_for_user(user=alice, n=4)
    OrderLineFactory(order=OrderFactory(user=alice), product=store.product(3, 0))

    after = selectors.recommendations_for_user(user=alice, n=4)

    # D0 was bought with C0 and E0; bought items themselves are never shown again.
    assert "D0" in item_names(before)
    assert "D0" not in item_names(after)
    assert {"C0", "E0"} <= set(item_names(after))
    assert any(r.reason == "Because you bought D0" for r in after)


def test_views_explain_with_because_you_viewed(store):
    viewer = UserFactory(username="viewer")
    ProductViewFactory(user=viewer, product=store.product(2, 0))

    recommendations = selectors.recommendations_for_user(user=viewer, n=3)

    assert recommendations[0].reason == "Because you viewed C0"


def test_anonymous_user_gets_trending_then_popular_never_an_empty_list(store):
    recommendations = selectors.recommendations_for_user(user=AnonymousUser(), n=6)

    assert len(recommendations) == 6
    assert {r.source for r in recommendations} <= {selectors.TRENDING, selectors.POPULAR}
    assert all(r.reason.startswith("Trending in Cat ") for r in recommendations)


def test_session_views_personalise_an_anonymous_list(store):
    recommendations = selectors.recommendations_for_session(item_pks=[store.product(1, 0).pk], n=3)

    assert recommendations[0].source == selectors.SESSION
    assert set(item_names(recommendations[:2])) == {"A0", "C0"}
    assert recommendations[0].reason == "Because you viewed B0"


def test_similar_products_never_include_the_product_itself(store):
    product = store.product(4, 0)

    recommendations = selectors.similar_products(item=product, n=4)

    assert "E0" not in item_names(recommendations)
    assert set(item_names(recommendations[:2])) == {"D0", "F0"}
    assert recommendations[0].reason == "Similar to E0"


def test_bought_together_for_a_cart_names_the_cart_item_that_explains_it(store):
    cart = [store.product(0, 0).pk, store.product(4, 0).pk]

    recommendations = selectors.bought_together(cart_item_pks=cart, n=4)

    names = item_names(recommendations)
    assert not {"A0", "E0"} & set(names)
    by_name = {r.item.name: r.reason for r in recommendations}
    assert by_name["B0"] == "Often bought with A0"
    assert by_name["F0"] == "Often bought with E0"


def test_trending_in_a_category_only_lists_that_category(store):
    category = store.categories[5]

    # Three of its products have the three buyers an item needs to trend (TRUST).
    recommendations = selectors.trending_products(n=3, category=category.pk)

    assert len(recommendations) == 3
    assert {r.item.category_id for r in recommendations} == {category.pk}
    assert {r.reason for r in recommendations} == {"Trending in Cat F"}


def test_items_trending_in_one_category_share_one_reason_worded_once(store, monkeypatch):
    adapter_class = type(get_adapter())
    asked = []
    category_label = adapter_class.category_label

    def counted(self, item):
        asked.append(item.pk)
        return category_label(self, item)

    monkeypatch.setattr(adapter_class, "category_label", counted)

    recommendations = selectors.trending_products(n=3, category=store.categories[5].pk)

    assert len(recommendations) == 3
    assert {r.reason for r in recommendations} == {"Trending in Cat F"}
    assert len({id(r.reason) for r in recommendations}) == 1
    assert len(asked) == 1


def test_without_social_a_list_never_enters_the_social_layer(store, settings, monkeypatch):
    settings.RECOMMENDATIONS = {
        key: value for key, value in settings.RECOMMENDATIONS.items() if key != "SOCIAL"
    }

    def entered(*args, **kwargs):
        raise AssertionError("serving.social entered without SOCIAL")

    monkeypatch.setattr(pipeline, "circle_of", entered)
    alice = buyer(store.product(0, 0))

    recommendations = selectors.recommendations_for_user(user=alice, n=4)

    assert recommendations and not any(r.social_reason for r in recommendations)


def test_recently_viewed_lists_own_views_newest_first_and_nothing_else(store):
    viewer = UserFactory(username="viewer")
    for category in (1, 6, 3):
        ProductViewFactory(user=viewer, product=store.product(category, 2))

    recommendations = selectors.recently_viewed(user=viewer, n=5)

    # Three views, three items: never padded with trending or popular ones.
    assert item_names(recommendations) == ["D2", "G2", "B2"]
    assert {r.source for r in recommendations} == {selectors.RECENTLY_VIEWED}
    assert recommendations[0].reason == "You viewed this recently"


def test_recently_viewed_lists_viewed_items_bought_since_and_hides_unavailable_ones(
    store, settings
):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "MAX_PER_CATEGORY": 1}
    viewer = UserFactory(username="viewer")
    viewed = [store.product(2, rank) for rank in (1, 2, 3)] + [store.product(4, 1)]
    for product in viewed:
        ProductViewFactory(user=viewer, product=product)
    OrderLineFactory(order=OrderFactory(user=viewer), product=store.product(2, 2))
    sold_out = store.product(4, 1)
    sold_out.stock_quantity = 0
    sold_out.save()

    recommendations = selectors.recently_viewed(user=viewer, n=8)

    # Bought or not, all of one category or not: what the shopper viewed and can buy.
    assert item_names(recommendations) == ["C3", "C2", "C1"]


def test_recently_viewed_of_a_shopper_who_viewed_nothing_is_empty(store):
    alice = buyer(store.product(0, 0))

    assert selectors.recently_viewed(user=alice, n=4) == []
    assert selectors.recently_viewed(user=AnonymousUser(), n=4) == []
    # An anonymous shopper's session views (or a host's history hook) are theirs.
    session = [store.product(3, 1).pk, store.product(5, 2).pk]
    assert item_names(selectors.recently_viewed(session_item_pks=session, n=4)) == ["D1", "F2"]


def test_an_empty_list_is_cached_until_the_catalog_changes(store, settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "RELOAD_INTERVAL": 3600}
    viewer = UserFactory(username="viewer")
    product = store.product(5, 3)
    ProductViewFactory(user=viewer, product=product)
    product.stock_quantity = 0
    product.save()
    assert selectors.recently_viewed(user=viewer, n=4) == []

    with CaptureQueriesContext(connection) as queries:
        again = selectors.recently_viewed(user=viewer, n=4)
    product.stock_quantity = 5
    product.save()
    restocked = selectors.recently_viewed(user=viewer, n=4)

    assert again == [] and len(queries) == 0  # the empty list, from the cache
    assert item_names(restocked) == ["F3"]


def test_similar_products_of_a_product_no_one_bought_is_empty_not_trending(store):
    newcomer = ProductFactory(name="Newcomer", category=store.categories[0])

    assert selectors.similar_products(item=newcomer, n=4) == []


def test_bought_together_for_an_empty_cart_or_a_lone_product_is_empty(store):
    newcomer = ProductFactory(name="Newcomer", category=store.categories[0])

    assert selectors.bought_together(cart_item_pks=[], n=4) == []
    assert selectors.bought_together(item=newcomer, n=4) == []


def test_a_pin_joins_a_similar_list_but_does_not_stand_in_for_one(store):
    pinned = store.product(6, 4)
    ItemRule.objects.create(
        kind=ItemRule.Kind.PIN, item_pk=str(pinned.pk), block=ItemRule.Block.ALL, position=0
    )
    newcomer = ProductFactory(name="Newcomer", category=store.categories[0])

    with_neighbours = selectors.similar_products(item=store.product(4, 0), n=4)

    assert with_neighbours[0].item == pinned and with_neighbours[0].source == selectors.PINNED
    assert {r.source for r in with_neighbours[1:]} == {selectors.SIMILAR}
    assert selectors.similar_products(item=newcomer, n=4) == []
    # Nor does a pin make a view: recently viewed takes none.
    viewer = UserFactory(username="viewer")
    ProductViewFactory(user=viewer, product=store.product(1, 1))
    assert item_names(selectors.recently_viewed(user=viewer, n=4)) == ["B1"]


def test_similar_products_are_not_cut_to_max_per_category(untrained_store, settings):
    # The default similar model (content and behaviour): alternatives of one category.
    run = training_run_start(algorithms=["item_knn"], promote=True)
    assert run.is_active, run.error
    serving.reset()
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "MAX_PER_CATEGORY": 2}
    product = untrained_store.product(3, 0)

    similar = selectors.similar_products(item=product, n=4)
    trending = selectors.trending_products(n=8)

    assert len(similar) == 4
    assert {r.item.category_id for r in similar} == {product.category_id}
    assert {r.source for r in similar} == {selectors.SIMILAR}
    # The other lists keep the rule.
    assert max(Counter(r.item.category_id for r in trending).values()) <= 2


def test_without_a_trained_model_the_popular_list_comes_from_the_database(untrained_store):
    assert not TrainingRun.objects.exists()

    recommendations = selectors.recommendations_for_user(user=AnonymousUser(), n=4)

    assert [r.source for r in recommendations] == [selectors.POPULAR] * 4
    # The rank-0 products were bought by the pair and the busy customers: the most.
    assert all(name.endswith("0") for name in item_names(recommendations))
    assert {r.reason for r in recommendations} == {"Popular right now"}


def test_an_empty_store_still_fills_lists_from_the_catalog(db):
    for _ in range(3):
        ProductFactory()

    recommendations = selectors.trending_products(n=3)

    assert len(recommendations) == 3
    assert {r.source for r in recommendations} == {selectors.CATALOG}


@pytest.mark.parametrize("n", [4, 12])
def test_catalog_items_are_fetched_in_two_queries_whatever_n(store, n, settings):
    # No periodic re-read (active version, experiment, rules: every RELOAD_INTERVAL
    # seconds, timed from earlier tests too) may fall inside the measured calls.
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "RELOAD_INTERVAL": 3600}
    alice = buyer(store.product(0, 0))
    selectors.recommendations_for_user(user=alice, n=n)  # load the model first
    caches_clear()

    with CaptureQueriesContext(connection) as queries:
        recommendations = selectors.recommendations_for_user(user=alice, n=n)
    with CaptureQueriesContext(connection) as repeat_queries:
        repeated = selectors.recommendations_for_user(user=alice, n=n)

    catalog_table = store.product(0, 0)._meta.db_table
    item_queries = [q for q in queries if f'FROM "{catalog_table}"' in q["sql"]]
    assert len(recommendations) == n
    # The keys and categories of the available candidates, then the chosen instances.
    assert len(item_queries) == 2
    # A repeat within RELOAD_INTERVAL is the cached list, its availability just checked.
    assert item_names(repeated) == item_names(recommendations)
    assert len(repeat_queries) == 0


@pytest.mark.parametrize("n", [0, 101, "3", True])
def test_bad_n_is_refused(store, n):
    with pytest.raises(ValueError, match="n must be an integer from 1 to 100"):
        selectors.trending_products(n=n)


def test_a_new_view_joins_the_cached_history_without_reading_it_again(store):
    alice = buyer(store.product(0, 0))
    selectors.recommendations_for_user(user=alice, n=4)  # reads and caches the history
    ProductViewFactory(user=alice, product=store.product(6, 2))

    with CaptureQueriesContext(connection) as queries:
        viewed = selectors.recently_viewed(user=alice, n=1)

    assert not [q for q in queries if '"shop_orderline"' in q["sql"]]
    assert item_names(viewed) == ["G2"]


def test_items_bought_before_the_history_window_are_never_shown(store, monkeypatch):
    monkeypatch.setattr(serving_history, "HISTORY_LIMIT", 2)
    alice = buyer(store.product(0, 0))  # the oldest purchase: outside a window of two
    for rank in (3, 4):
        OrderLineFactory(order=OrderFactory(user=alice), product=store.product(7, rank))
    caches_clear()

    history = selectors.shopper_history(user=alice)
    shown = item_names(selectors.recommendations_for_user(user=alice, n=40))

    assert "A0" not in {pk for pk, *_ in history.rows}  # not in the window ...
    assert str(store.product(0, 0).pk) in history.bought()  # ... yet known as bought
    assert "A0" not in shown and "H3" not in shown and "H4" not in shown
    assert len(shown) > 10
    # Kept apart in the cache, and deleted with the rest of the user's cache.
    key = user_cache_key(alice.pk, BOUGHT_CACHE_NAME)
    assert str(store.product(0, 0).pk) in cache.get(key)
    user_cache_delete(user_pk=alice.pk)
    assert cache.get(key) is None


def test_the_history_the_items_bought_beyond_it_and_the_consent_are_one_query(store, monkeypatch):
    monkeypatch.setattr(serving_history, "HISTORY_LIMIT", 2)
    alice = buyer(store.product(0, 0))
    for rank in (3, 4):
        OrderLineFactory(order=OrderFactory(user=alice), product=store.product(7, rank))
    caches_clear()

    with CaptureQueriesContext(connection) as queries:
        history = selectors.shopper_history(user=alice)
        bought = history.bought()

    # (The serving model is loaded too: it does not know Alice.)
    events = [q["sql"] for q in queries if '"shop_orderline"' in q["sql"]]
    assert len(events) == 1 and "DISTINCT" in events[0]
    assert {str(store.product(0, 0).pk), str(store.product(7, 3).pk)} <= bought


def test_a_repeat_view_keeps_the_personal_lists_name_and_a_new_one_moves_it(store):
    alice = buyer(store.product(0, 0))
    selectors.recommendations_for_user(user=alice, n=4)  # her history cached
    ProductViewFactory(user=alice, product=store.product(5, 0))
    first = selectors.shopper_history(user=alice)
    ProductViewFactory(user=alice, product=store.product(5, 0))
    repeat = selectors.shopper_history(user=alice)
    repeat_newest = repeat.rows[0][0]  # the rows are read when asked for
    ProductViewFactory(user=alice, product=store.product(5, 1))
    new = selectors.shopper_history(user=alice)
    caches_clear()
    fresh = selectors.shopper_history(user=alice)

    assert repeat.fingerprint == first.fingerprint != new.fingerprint == fresh.fingerprint
    assert new.bought_fingerprint == first.bought_fingerprint == fresh.bought_fingerprint
    assert repeat_newest == store.product(5, 0).pk
    assert [pk for pk, *_ in new.rows] == [pk for pk, *_ in fresh.rows]


def test_page_views_never_push_purchases_out_of_the_history(store, monkeypatch):
    monkeypatch.setattr(serving_history, "HISTORY_LIMIT", 2)
    alice = buyer(store.product(0, 0))
    selectors.recommendations_for_user(user=alice, n=4)
    for rank in range(4):  # views join the cached history through the signal
        ProductViewFactory(user=alice, product=store.product(5, rank))

    cached = selectors.shopper_history(user=alice)
    caches_clear()
    read = selectors.shopper_history(user=alice)

    for history in (cached, read):
        sources = [source for _pk, source, *_ in history.rows]
        assert sources.count("purchase") == 1 and sources.count("view") == 2
    assert cached.fingerprint == read.fingerprint
    assert cached.bought_fingerprint == read.bought_fingerprint
