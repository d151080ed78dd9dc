"""Computed lists are cached per user: repeats do no engine work, privacy still reaches them."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommendations import selectors, serving
from recommendations.conf import app_settings
from recommendations.privacy import user_cache_delete
from recommendations.serving import cache as list_cache
from recommendations.serving import catalog as serving_catalog
from recommendations.serving import history as serving_history
from recommendations.serving import pipeline
from recommendations.serving.keys import (
    GENERATION_TIMEOUT,
    HISTORY_ROWS_CACHE_NAME,
    LIST_CACHE_PREFIX,
    UserCache,
    user_generation_key,
    user_head_key,
)
from shop.models import Product
from tests.factories import OrderFactory, OrderLineFactory, ProductViewFactory, UserFactory
from tests.recommendations.store import buyer, cache_calls, caches_clear, item_names

pytestmark = pytest.mark.usefixtures("isolated_serving")


def _cached_lists(user):
    """Keys of the lists cached for ``user`` in their current generation.

    The app keeps no index of them; the test cache (local memory) can list its keys.
    """
    generation = cache.get(user_generation_key(user.pk))
    prefix = f"recommendations:user:{user.pk}:g{generation}:{LIST_CACHE_PREFIX}"
    return [key.partition(":")[2].partition(":")[2] for key in cache._cache if prefix in key]


def _explain_calls(monkeypatch):
    calls = []
    recommender = serving.active_model().recommender
    original = recommender.explain_batch

    def counting(*args, **kwargs):
        calls.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(recommender, "explain_batch", counting)
    return calls


def test_a_repeat_request_is_served_from_the_cache_without_engine_work(store, monkeypatch):
    alice = buyer(store.product(0, 0))
    first = selectors.recommendations_for_user(user=alice, n=4)
    calls = _explain_calls(monkeypatch)

    again = selectors.recommendations_for_user(user=alice, n=4)

    assert item_names(again) == item_names(first)
    assert [r.reason for r in again] == [r.reason for r in first]
    assert calls == []
    caches_clear()
    selectors.recommendations_for_user(user=alice, n=4)
    assert len(calls) == 1  # computed again: the whole list explained in one call


def test_a_list_read_back_from_the_shared_cache_keeps_one_reason_class(store):
    alice = buyer(store.product(0, 0))
    first = selectors.recommendations_for_user(user=alice, n=4)
    serving.process_state.reset(lists_only=True)  # as a worker that did not compute it

    again = selectors.recommendations_for_user(user=alice, n=4)

    assert [str(r.reason) for r in again] == [str(r.reason) for r in first]
    assert {type(r.reason) for r in again} == {type(r.reason) for r in first}


@pytest.fixture(autouse=True)
def _no_periodic_rereads(settings):
    """Query counts must not catch a periodic re-read (active version, experiment,
    rules: every RELOAD_INTERVAL seconds, timed from earlier tests too)."""
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "RELOAD_INTERVAL": 3600}


def _later(monkeypatch, seconds):
    """Move the clock the list cache and the process's catalog read ``seconds`` ahead."""
    now = time.time()
    later = SimpleNamespace(time=lambda: now + seconds)
    monkeypatch.setattr(list_cache, "time", later)
    monkeypatch.setattr(serving_catalog, "time", later)
    monkeypatch.setattr(serving_history, "time", later)


def test_availability_is_checked_again_once_per_reload_interval(store, settings, monkeypatch):
    # The history kept an hour: its head is not read again when the clock moves.
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "RELOAD_INTERVAL": 60,
        "HISTORY_TIMEOUT": 3600,
    }
    alice = buyer(store.product(0, 0))
    first = selectors.recommendations_for_user(user=alice, n=4)
    calls = _explain_calls(monkeypatch)

    # Within the interval a repeat costs no query at all.
    with CaptureQueriesContext(connection) as queries:
        selectors.recommendations_for_user(user=alice, n=4)
    assert len(queries) == 0

    _later(monkeypatch, 61)
    with CaptureQueriesContext(connection) as queries:
        again = selectors.recommendations_for_user(user=alice, n=4)
    assert len(queries) == 1  # the availability of the cached items, nothing else
    assert f'FROM "{Product._meta.db_table}"' in queries[0]["sql"]
    assert item_names(again) == item_names(first) and calls == []
    _later(monkeypatch, 62)
    with CaptureQueriesContext(connection) as queries:
        selectors.recommendations_for_user(user=alice, n=4)
    assert len(queries) == 0  # checked a second ago


def test_a_history_head_past_its_time_counts_as_none(store, settings, monkeypatch):
    # A process's memory (the near cache) may hold the head after the cache dropped it.
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "HISTORY_TIMEOUT": 60}
    alice = buyer(store.product(0, 0))
    first = selectors.recommendations_for_user(user=alice, n=4)
    with CaptureQueriesContext(connection) as queries:
        selectors.recommendations_for_user(user=alice, n=4)
    assert not _history_reads(queries)

    _later(monkeypatch, 61)  # the cache itself still holds the head
    with CaptureQueriesContext(connection) as queries:
        again = selectors.recommendations_for_user(user=alice, n=4)

    assert _history_reads(queries)
    assert item_names(again) == item_names(first)


def _history_reads(queries):
    return [q for q in queries if 'FROM "shop_orderline"' in q["sql"]]


def _cache_reads(monkeypatch):
    """Every read the app makes of the cache, as (method, key or keys)."""
    return cache_calls(monkeypatch, ("get", "get_many"))


def _for_you(store, user):
    return selectors.recommendations_for_user(user=user, n=4)


def _similar(store, user):
    return selectors.similar_products(item=store.product(0, 1), user=user, n=4)


def _trending(store, user):
    return selectors.trending_products(user=user, n=4)


def _recently_viewed(store, user):
    return selectors.recently_viewed(user=user, n=4)


@pytest.mark.parametrize(
    ("select", "reads_expected"),
    # A recently viewed list is named by the viewed items: the history rows are read too.
    [(_for_you, 1), (_similar, 1), (_trending, 1), (_recently_viewed, 2)],
    ids=["for_you", "similar", "trending", "recently_viewed"],
)
def test_a_repeat_list_reads_its_inputs_from_the_cache_in_one_call(
    store, settings, monkeypatch, select, reads_expected
):
    # History head, rules and catalog change time in one call: one round trip to a
    # shared cache (without a near cache, as with any backend but Redis's).
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "NEAR_CACHE": False}
    alice = buyer(store.product(0, 0))
    first = select(store, alice)
    reads = _cache_reads(monkeypatch)

    again = select(store, alice)

    assert item_names(again) == item_names(first)
    assert len(reads) == reads_expected and reads[0][0] == "get_many"
    # Rules, catalog and availability change times, the shopper's generation and history
    # head, and when the follows changed (the test settings name a relation).
    assert app_settings.SOCIAL is not None
    assert len(reads[0][1]) == 6


def test_a_repeat_list_of_a_local_memory_cache_reads_its_inputs_from_the_process(
    store, monkeypatch
):
    # The test settings' cache is local memory: the near cache keeps what lists read.
    alice = buyer(store.product(0, 0))
    first = selectors.recommendations_for_user(user=alice, n=4)
    # The first list wrote the history head and the rules' version: read once more.
    selectors.recommendations_for_user(user=alice, n=4)
    reads = _cache_reads(monkeypatch)

    again = selectors.recommendations_for_user(user=alice, n=4)

    assert item_names(again) == item_names(first)
    assert reads == []


def test_a_shopper_without_a_generation_has_it_read_from_the_cache_once(store, monkeypatch):
    alice = buyer(store.product(0, 0))
    caches_clear()  # no generation: this list starts one
    reads = _cache_reads(monkeypatch)

    selectors.recommendations_for_user(user=alice, n=4)

    generation = user_generation_key(alice.pk)
    read = [
        keys for method, keys in reads if generation in (keys if method == "get_many" else [keys])
    ]
    assert len(read) == 1
    assert cache.get(generation) is not None


def test_a_sold_out_item_is_not_served_from_the_cache_once_checked(store, monkeypatch):
    alice = buyer(store.product(0, 0))
    first = selectors.recommendations_for_user(user=alice, n=4)
    Product.objects.filter(pk=first[0].item.pk).update(stock_quantity=0)

    _later(monkeypatch, 3600)
    again = selectors.recommendations_for_user(user=alice, n=4)

    assert first[0].item.name not in item_names(again)
    assert len(again) == 4


def test_an_item_sold_out_by_checkout_leaves_cached_lists_at_once(
    store, client, django_capture_on_commit_callbacks
):
    alice = buyer(store.product(0, 0))
    bob = buyer(username="bob")
    first = selectors.recommendations_for_user(user=alice, n=4)
    sold = first[0].item
    Product.objects.filter(pk=sold.pk).update(stock_quantity=1)
    client.force_login(bob)
    client.post(f"/cart/add/{sold.pk}/", {"quantity": 1})

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/checkout/")

    assert response.status_code == 302
    assert Product.objects.get(pk=sold.pk).stock_quantity == 0
    again = selectors.recommendations_for_user(user=alice, n=4)  # no waiting
    assert sold.name not in item_names(again)
    assert len(again) == 4


def test_a_catalog_save_leaves_cached_lists_at_once(store):
    alice = buyer(store.product(0, 0))
    first = selectors.recommendations_for_user(user=alice, n=4)
    withdrawn = Product.objects.get(pk=first[0].item.pk)
    withdrawn.is_active = False
    withdrawn.save()

    again = selectors.recommendations_for_user(user=alice, n=4)

    assert withdrawn.name not in item_names(again)


def test_a_purchase_changes_the_list_at_once_but_a_repeat_view_reuses_it(store):
    alice = buyer(store.product(0, 0))
    ProductViewFactory(user=alice, product=store.product(6, 2))
    first = selectors.recommendations_for_user(user=alice, n=4)

    ProductViewFactory(user=alice, product=store.product(6, 2))
    with CaptureQueriesContext(connection) as queries:
        again = selectors.recommendations_for_user(user=alice, n=4)
    assert len(queries) == 0  # served from the cache
    assert item_names(again) == item_names(first)

    bought = first[0].item
    OrderLineFactory(order=OrderFactory(user=alice), product=bought)
    assert bought.name not in item_names(selectors.recommendations_for_user(user=alice, n=4))


def test_forgetting_a_user_leaves_every_cached_list_behind(store, monkeypatch):
    alice = buyer(store.product(0, 0))
    selectors.recommendations_for_user(user=alice, n=4)
    selectors.trending_products(n=4, user=alice)
    selectors.similar_products(item=store.product(0, 0), n=4, user=alice)
    lists = _cached_lists(alice)
    assert len(lists) == 3
    assert all(cache.get(key) for key in lists)
    calls = _explain_calls(monkeypatch)

    user_cache_delete(user_pk=alice.pk)

    assert _cached_lists(alice) == []  # nothing in the user's new generation
    selectors.recommendations_for_user(user=alice, n=4)
    assert len(calls) == 1  # computed again: the old generation's list is not served


def _list_reads(monkeypatch):
    """Names of the user lists read from the shared cache from now on."""
    reads = []
    original = UserCache.get

    def counting(self, name, default=None):
        if name.startswith(LIST_CACHE_PREFIX) or name == HISTORY_ROWS_CACHE_NAME:
            reads.append(name)
        return original(self, name, default)

    monkeypatch.setattr(UserCache, "get", counting)
    return reads


def test_a_list_this_process_served_is_not_read_from_the_cache_again(store, monkeypatch):
    alice = buyer(store.product(0, 0))
    first = selectors.recommendations_for_user(user=alice, n=4)
    reads = _list_reads(monkeypatch)

    again = selectors.recommendations_for_user(user=alice, n=4)
    assert item_names(again) == item_names(first)
    assert reads == []  # nothing unpickled: this process kept the list, and the
    # history's small head named it without reading the history's rows
    again.pop()  # callers get their own list
    assert len(selectors.recommendations_for_user(user=alice, n=4)) == 4

    _later(monkeypatch, 3601)  # past RELOAD_INTERVAL: checked through the shared entry
    selectors.recommendations_for_user(user=alice, n=4)
    assert reads and reads[0].startswith(LIST_CACHE_PREFIX)


def test_a_served_list_is_dropped_with_the_users_cache_and_never_crosses_users(store, monkeypatch):
    alice = buyer(store.product(0, 0))
    twin = buyer(store.product(0, 0), username="twin")  # the same history as alice
    selectors.recommendations_for_user(user=alice, n=4)
    reads = _list_reads(monkeypatch)

    selectors.recommendations_for_user(user=twin, n=4)
    assert len([r for r in reads if r.startswith(LIST_CACHE_PREFIX)]) == 1  # twin's own
    user_cache_delete(user_pk=alice.pk)
    calls = _explain_calls(monkeypatch)
    selectors.recommendations_for_user(user=alice, n=4)
    assert len(calls) == 1  # computed again in this process too


def test_every_value_cached_for_a_user_expires_and_no_index_is_kept(store, settings):
    # Lists pile up per user only for CACHE_TIMEOUT: nothing of a user is kept forever,
    # and no per-user list of names exists to be read, rewritten and lost in a race.
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "CACHE_TIMEOUT": 900}
    alice = buyer(store.product(0, 0))
    for n in (2, 3, 4):
        selectors.recommendations_for_user(user=alice, n=n)
    selectors.similar_products(item=store.product(0, 1), user=alice, n=4)
    now = time.time()

    mine = {
        key.partition(":")[2].partition(":")[2]: expires
        for key, expires in cache._expire_info.items()
        if f"recommendations:user:{alice.pk}:" in key
    }
    lists = [key for key in mine if f":{LIST_CACHE_PREFIX}" in key]
    assert len(lists) == 4 and len(_cached_lists(alice)) == 4
    generation_key = user_generation_key(alice.pk)
    assert now < mine.pop(generation_key) <= now + GENERATION_TIMEOUT
    assert all(expires is not None and now < expires <= now + 3600 for expires in mine.values())
    assert f"recommendations:user:{alice.pk}" not in mine  # the old index key


def test_lists_of_different_users_or_inputs_never_mix(store):
    alice = buyer(store.product(0, 0))
    bob = buyer(store.product(2, 0), username="bob")
    for_alice = selectors.recommendations_for_user(user=alice, n=4)
    for_bob = selectors.recommendations_for_user(user=bob, n=4)
    assert item_names(for_alice) != item_names(for_bob)
    excluded = selectors.recommendations_for_user(user=alice, n=4, exclude=[for_alice[0].item.pk])
    assert for_alice[0].item.name not in item_names(excluded)


def _history_expiry(user):
    """How many seconds from now the user's cached history is trusted."""
    _generation, expires, _digests = cache.get(user_head_key(user.pk))
    return expires - time.time()


def test_a_local_memory_cache_reads_the_history_again_every_reload_interval(store, settings):
    # Other processes cannot update this process's cache: it must not trust it long.
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "CACHE_TIMEOUT": 900}
    alice = buyer(store.product(0, 0))
    selectors.recommendations_for_user(user=alice, n=4)
    assert 3500 < _history_expiry(alice) <= 3600  # RELOAD_INTERVAL of this module's tests


def test_a_shared_cache_keeps_the_history_for_the_cache_timeout(store, settings, tmp_path):
    # The signals of every process keep a shared cache current: no periodic re-read.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(tmp_path),
        }
    }
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "CACHE_TIMEOUT": 900,
        "RELOAD_INTERVAL": 5,
    }
    alice = buyer(store.product(0, 0))
    selectors.recommendations_for_user(user=alice, n=4)
    assert 890 < _history_expiry(alice) <= 900
    # A purchase made meanwhile reaches the shared history at once.
    OrderLineFactory(order=OrderFactory(user=alice), product=store.product(0, 1))
    listed = item_names(selectors.recommendations_for_user(user=alice, n=4))
    assert store.product(0, 1).name not in listed


def test_history_timeout_overrides_either_default(store, settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "HISTORY_TIMEOUT": 42}
    alice = buyer(store.product(0, 0))
    selectors.recommendations_for_user(user=alice, n=4)
    assert 40 < _history_expiry(alice) <= 42


def test_a_first_list_under_a_generation_it_started_looks_for_no_cached_list(store, monkeypatch):
    alice = buyer(store.product(0, 0))
    caches_clear()  # no generation for alice: her first list starts one
    reads = _cache_reads(monkeypatch)

    first = selectors.recommendations_for_user(user=alice, n=4)

    list_reads = [key for _method, key in reads if LIST_CACHE_PREFIX in str(key)]
    assert first and list_reads == []
    # Under a generation that exists (another process's view): the list is looked for,
    # and found.
    serving.process_state.served.clear()
    reads.clear()
    again = selectors.recommendations_for_user(user=alice, n=4)
    assert [key for _method, key in reads if LIST_CACHE_PREFIX in str(key)]
    assert item_names(again) == item_names(first)


def test_accounts_without_events_share_one_list_with_anonymous_shoppers(store, monkeypatch):
    built = []
    original = pipeline.layers_build

    def counting(*args, **kwargs):
        built.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(pipeline, "layers_build", counting)
    shoppers = [UserFactory(username="new1"), UserFactory(username="new2"), AnonymousUser()]

    lists = [selectors.recommendations_for_user(user=user, n=4) for user in shoppers]

    assert item_names(lists[0]) == item_names(lists[1]) == item_names(lists[2])
    assert len(built) == 1  # computed for the first account, served to the others
    # Kept once, as an anonymous shopper's list, not once per account.
    assert {key[0] for key in serving.process_state.served} == {None}


def test_an_accounts_first_event_gives_it_a_list_of_its_own(store):
    carol = UserFactory(username="carol")
    shared = selectors.recommendations_for_user(user=carol, n=4)
    assert _cached_lists(carol) == []

    ProductViewFactory(user=carol, product=store.product(0, 0))
    mine = selectors.recommendations_for_user(user=carol, n=4)

    assert len(_cached_lists(carol)) == 1
    assert {key[0] for key in serving.process_state.served} == {None, carol.pk}
    assert [str(r.reason) for r in mine] != [str(r.reason) for r in shared]
