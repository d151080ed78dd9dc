"""Lists computed at training time: served to known shoppers whose history is unchanged.

Every other shopper (new events since the training, opted out, forgotten) is scored at
request time or not personalised at all, and a sold-out item leaves a trained list at
once, as it leaves any list.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext

from recommendations import selectors, serving
from recommendations.adapters import get_adapter
from recommendations.artifacts import artifact_read
from recommendations.conf import app_settings
from recommendations.models import TrainingRun
from recommendations.privacy import user_forget
from recommendations.services import training_run_promote, training_run_start
from tests.factories import OrderFactory, OrderLineFactory, ProductViewFactory
from tests.recommendations.store import caches_clear, item_names

pytestmark = pytest.mark.usefixtures("isolated_serving")


def _scoring_calls(monkeypatch) -> list[str]:
    """Every call that scores or explains a history at request time."""
    calls: list[str] = []
    recommender = serving.active_model().recommender
    for name in ("recommend_interactions", "explain_batch"):
        original = getattr(recommender, name)

        def counting(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        monkeypatch.setattr(recommender, name, counting)
    return calls


def _pair_customer():
    """A customer of the store who bought A0 and B0 before the training."""
    return get_user_model().objects.get(username="pair0-0")


def _live(user, n: int):
    """The list the same model scores at request time (its trained lists set aside)."""
    model = serving.active_model()
    serving.process_state.model = dataclasses.replace(model, user_lists=None)
    try:
        caches_clear()
        return selectors.recommendations_for_user(user=user, n=n)
    finally:
        serving.process_state.model = model
        caches_clear()


def test_a_known_shopper_with_an_unchanged_history_gets_the_trained_list_unscored(
    store, monkeypatch
):
    customer = _pair_customer()
    live = _live(customer, 4)
    calls = _scoring_calls(monkeypatch)

    trained = selectors.recommendations_for_user(user=customer, n=4)

    assert calls == []
    assert item_names(trained) == item_names(live)
    assert [r.reason for r in trained] == [r.reason for r in live]
    assert trained[0].source == selectors.PERSONAL
    assert trained[0].reason.startswith("Because you bought")
    assert not {"A0", "B0"} & set(item_names(trained))  # bought: never listed again


def test_an_unchanged_shopper_costs_one_small_query_of_their_events_not_their_history(store):
    customer = _pair_customer()
    live = _live(customer, 4)
    with CaptureQueriesContext(connection) as queries:
        trained = selectors.recommendations_for_user(user=customer, n=4)
    history = selectors.shopper_history(user=customer)

    events = [q["sql"] for q in queries if '"shop_orderline"' in q["sql"]]
    # Their newest event of each source, one row each: neither their rows nor a
    # DISTINCT of everything they bought.
    assert len(events) == 1 and "LIMIT 1" in events[0] and "DISTINCT" not in events[0]
    assert item_names(trained) == item_names(live)
    assert [r.reason for r in trained] == [r.reason for r in live]
    # What they bought comes from the artifact, as their rows would tell it.
    assert history.trained is not None
    assert history.bought() == {str(store.product(0, 0).pk), str(store.product(1, 0).pk)}
    assert history.bought() == {str(pk) for pk, source, *_ in history.rows if source == "purchase"}


def test_a_trained_history_moves_on_with_the_next_event(store):
    customer = _pair_customer()
    selectors.recommendations_for_user(user=customer, n=4)
    assert selectors.shopper_history(user=customer).trained is not None

    ProductViewFactory(user=customer, product=store.product(4, 1))

    history = selectors.shopper_history(user=customer)
    assert history.trained is None
    assert str(store.product(4, 1).pk) in {str(pk) for pk, *_ in history.rows}


def test_an_artifact_keeps_what_each_user_bought_and_forgetting_keeps_the_rows_in_step(store):
    run = TrainingRun.objects.get(is_active=True)
    lists = artifact_read(run.artifact).user_lists
    model = serving.active_model()
    customer = _pair_customer()
    row = model.user_row(customer.pk)

    bought = {str(pk) for pk in model.item_pks[lists.bought_cols(row)].tolist()}
    assert bought == {str(store.product(0, 0).pk), str(store.product(1, 0).pk)}
    keep = np.ones(model.user_pks.size, dtype=bool)
    keep[row] = False
    without = lists.without(keep)
    for new_row, old_row in enumerate(np.flatnonzero(keep)):
        assert np.array_equal(without.bought_cols(new_row), lists.bought_cols(old_row))


def test_a_shopper_with_an_event_since_the_training_is_scored_at_request_time(store, monkeypatch):
    customer = _pair_customer()
    selectors.recommendations_for_user(user=customer, n=4)
    calls = _scoring_calls(monkeypatch)
    order = OrderFactory(user=customer)
    OrderLineFactory(order=order, product=store.product(4, 0))

    again = selectors.recommendations_for_user(user=customer, n=4)

    assert "recommend_interactions" in calls
    assert "E0" not in item_names(again)  # the new purchase counts at once


def test_an_item_sold_out_after_the_training_leaves_the_trained_list_at_once(store):
    customer = _pair_customer()
    first = selectors.recommendations_for_user(user=customer, n=4)
    sold_out = first[0].item
    sold_out.stock_quantity = 0
    sold_out.save()

    again = selectors.recommendations_for_user(user=customer, n=4)

    assert sold_out.name not in item_names(again)
    assert len(again) == 4
    assert again[0].source == selectors.PERSONAL


def test_a_shopper_who_opts_out_is_not_served_their_trained_list(store):
    customer = _pair_customer()
    assert selectors.recommendations_for_user(user=customer, n=4)[0].source == "personal"
    customer.profile.personalisation_consent = False
    customer.profile.save()

    again = selectors.recommendations_for_user(user=customer, n=4)

    assert len(again) == 4
    assert selectors.PERSONAL not in {r.source for r in again}


def test_a_forgotten_users_trained_list_is_gone_from_the_artifact_and_from_serving(store):
    customer = _pair_customer()
    run = TrainingRun.objects.get(is_active=True)
    before = artifact_read(run.artifact)
    assert before.user_lists is not None
    assert before.user_lists.items.shape[0] == before.user_pks.size
    assert str(customer.pk) in before.user_pks.astype(str)

    user_forget(user_pk=customer.pk)
    serving.reset()

    run.refresh_from_db()
    after = artifact_read(run.artifact)
    assert str(customer.pk) not in after.user_pks.astype(str)
    lists = after.user_lists
    assert all(
        getattr(lists, name).shape[0] == after.user_pks.size == before.user_pks.size - 1
        for name in lists.ARRAYS
    )
    # The rows kept are the other users' own: the next user's list moved up with them.
    kept = np.flatnonzero(before.user_pks.astype(str) != str(customer.pk))
    assert np.array_equal(lists.items, before.user_lists.items[kept])
    assert serving.active_model().user_row(customer.pk) is None


def test_without_trained_lists_every_list_is_scored_at_request_time(store, settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "USER_LIST_LENGTH": 0}
    run = TrainingRun.objects.get(is_active=True)
    assert artifact_read(run.artifact).user_lists is not None
    retrained = training_run_start(algorithms=["item_knn"], promote=False)
    training_run_promote(run=retrained)
    serving.reset()

    assert artifact_read(retrained.artifact).user_lists is None
    assert selectors.recommendations_for_user(user=_pair_customer(), n=4)[0].source == "personal"


def test_kept_settings_follow_override_settings_and_a_replaced_setting(settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "CACHE_TIMEOUT": 111}
    assert app_settings.CACHE_TIMEOUT == 111
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "CACHE_TIMEOUT": 222}
    assert app_settings.CACHE_TIMEOUT == 222  # override_settings: the signal drops it
    original = django_settings.RECOMMENDATIONS
    try:
        # Assigned without a signal: the next block reads it again.
        django_settings.RECOMMENDATIONS = {**original, "CACHE_TIMEOUT": 333}
        app_settings.refresh()
        assert app_settings.CACHE_TIMEOUT == 333
    finally:
        django_settings.RECOMMENDATIONS = original
        app_settings.refresh()
    assert app_settings.CACHE_TIMEOUT == 222


def test_a_repeat_list_of_an_unchanged_shopper_leaves_what_they_bought_unread(store):
    customer = _pair_customer()
    first = selectors.recommendations_for_user(user=customer, n=4)

    history = selectors.shopper_history(user=customer)
    again = selectors.recommendations_for_user(user=customer, n=4, history=history)

    assert item_names(again) == item_names(first)
    assert history.trained is not None
    # Only a computed list asks for the items bought: a served one names none of them.
    assert "bought" not in vars(history.trained)
    assert history.trained.bought == get_adapter().user_bought(customer.pk)


def _first_list_queries(customer) -> list[str]:
    """The SQL of a known shopper's first list in this process (no cache, nothing held)."""
    with CaptureQueriesContext(connection) as queries:
        selectors.recommendations_for_user(user=customer, n=4)
    return [query["sql"] for query in queries]


def _process_start() -> None:
    """As a new process: nothing cached, nothing loaded."""
    caches_clear()
    serving.reset()


def test_after_the_warm_up_a_known_shoppers_first_list_reads_their_newest_events_only(
    store,
):
    customer = _pair_customer()
    _process_start()
    unprepared = _first_list_queries(customer)
    _process_start()

    selectors.warm_up()
    warmed = _first_list_queries(customer)

    # Without it the first list reads the catalog itself; after it, what it reads of the
    # database is the shopper's newest event of each source (the model's check of the
    # active run aside, which runs every RELOAD_INTERVAL seconds whatever was prepared).
    assert any('"shop_product"' in sql for sql in unprepared)
    read = [sql for sql in warmed if '"recommendations_trainingrun"' not in sql]
    assert len(read) == 1 and "LIMIT 1" in read[0] and '"shop_orderline"' in read[0]


def test_after_the_warm_up_a_first_list_works_out_no_item_page(store, monkeypatch):
    customer = _pair_customer()
    pages: list[int] = []
    product = type(store.product(0, 0))
    original = product.get_absolute_url

    def counted(self):
        pages.append(self.pk)
        return original(self)

    monkeypatch.setattr(product, "get_absolute_url", counted)
    _process_start()
    shown = selectors.recommendations_for_user(user=customer, n=4)
    assert pages  # without the warm-up, the first list works out the pages it shows
    _process_start()

    selectors.warm_up()
    pages.clear()
    warmed = selectors.recommendations_for_user(user=customer, n=4)

    assert pages == []
    assert [(r.label, r.url, r.price) for r in warmed] == [
        (r.label, r.url, r.price) for r in shown
    ]
