"""Baskets from orders, and the two item-to-item blocks they set apart.

"Similar" must rank alternatives (look-alikes of the same kind that the same customers
buy) and "bought together" the complements bought in the same order; both used to come
from one model and showed the same list.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from recommendations import reasons, serving
from recommendations.adapters import get_adapter
from recommendations.artifacts import artifact_read, artifact_write
from recommendations.baskets import basket_matrix
from recommendations.checks import check_settings
from recommendations.engine.cooccurrence import CooccurrenceRecommender
from recommendations.engine.popularity import PopularityRecommender
from recommendations.models import TrainingRun
from recommendations.services import training_run_start
from recommendations.tombstones import run_artifact_forget
from recommendations.trust import user_trust
from tests.factories import (
    CategoryFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    ProductViewFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

MUGS = ("Blue mug", "Red mug", "Green mug", "White mug")
COASTERS = ("Cork coaster", "Slate coaster", "Bamboo coaster", "Marble coaster")
CUSTOMERS_PER_MUG = 4


@pytest.fixture(autouse=True)
def artifact_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": {"popularity": {}},
        "ARTIFACT_ROOT": tmp_path / "var",
    }
    serving.reset()
    yield
    serving.reset()


@dataclass
class MugShop:
    mugs: list[Any]
    coasters: list[Any]


def mug_shop() -> MugShop:
    """Each customer orders mug ``i`` with its coaster, and mug ``i + 1`` in a later order.

    So the customers of a mug also bought the next mug (an alternative, never in the
    same order) and its coaster (a complement, always in the same order).
    """
    mug_category, coaster_category = CategoryFactory(name="Mugs"), CategoryFactory(name="Coasters")
    mugs = [ProductFactory(name=name, description=name, category=mug_category) for name in MUGS]
    coasters = [
        ProductFactory(name=name, description=name, category=coaster_category) for name in COASTERS
    ]
    now = timezone.now()
    for i in range(len(MUGS)):
        for _ in range(CUSTOMERS_PER_MUG):
            customer = UserFactory()
            first = OrderFactory(user=customer, created_at=now - dt.timedelta(days=40))
            OrderLineFactory(order=first, product=mugs[i])
            OrderLineFactory(order=first, product=coasters[i])
            later = OrderFactory(user=customer, created_at=now - dt.timedelta(days=20))
            OrderLineFactory(order=later, product=mugs[(i + 1) % len(MUGS)])
    return MugShop(mugs=mugs, coasters=coasters)


def neighbours(artifact, recommender, product, n: int = 4) -> list[Any]:
    """Primary keys of the ``n`` items the recommender puts next to ``product``."""
    col = artifact.item_pks.tolist().index(product.pk)
    items, scores = recommender.similar_items(col, n)
    return [artifact.item_pks[i].item() for i in items[scores > 0]]


def pks(products) -> set[Any]:
    return {product.pk for product in products}


def test_similar_ranks_alternatives_and_bought_together_the_complements_of_the_order():
    shop = mug_shop()

    run = training_run_start(algorithms=["popularity"])

    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    artifact = artifact_read(run.artifact)
    assert artifact.bought_together is not None
    for i, mug in enumerate(shop.mugs):
        similar = neighbours(artifact, artifact.similar, mug)
        together = neighbours(artifact, artifact.bought_together, mug)
        assert set(similar[:3]) == pks(shop.mugs) - {mug.pk}
        assert together == [shop.coasters[i].pk]
        assert similar != together


def test_the_artifact_keeps_no_basket_and_survives_forgetting_a_user():
    mug_shop()
    run = training_run_start(algorithms=["popularity"])
    artifact = artifact_read(run.artifact)
    before = artifact.bought_together.similarity_.toarray()

    # What a deletion does to every stored artifact (recommendations.tombstones).
    rewritten = artifact_read(run_artifact_forget(run, {str(artifact.user_pks[0])}))

    assert artifact.bought_together.interactions_.shape[0] == 0
    assert rewritten.user_pks.size == artifact.user_pks.size - 1
    np.testing.assert_array_equal(rewritten.bought_together.similarity_.toarray(), before)
    assert rewritten.bought_together.n_users_ == 0


def test_the_serving_model_carries_bought_together():
    mug_shop()
    run = training_run_start(algorithms=["popularity"])

    model = serving.active_model()

    assert model is not None and model.run_id == run.pk
    assert isinstance(model.bought_together, CooccurrenceRecommender)


def test_without_a_group_field_one_users_purchases_within_a_minute_are_one_basket(settings):
    sources = copy.deepcopy(django_settings.RECOMMENDATIONS["EVENT_SOURCES"])
    mug, coaster, teapot = ProductFactory.create_batch(3)
    customer = UserFactory()
    placed = timezone.now() - dt.timedelta(days=3)
    # Two orders 30 seconds apart, a third an hour later.
    for offset, product in ((0, mug), (30, coaster), (3600, teapot)):
        order = OrderFactory(user=customer, created_at=placed + dt.timedelta(seconds=offset))
        OrderLineFactory(order=order, product=product)
    ProductViewFactory(user=customer, product=teapot, viewed_at=placed)

    def baskets() -> set[frozenset[Any]]:
        events = get_adapter().training_events()
        user_pks, user_idx = np.unique(events.user_pk, return_inverse=True)
        item_pks, item_idx = np.unique(events.item_pk, return_inverse=True)
        trust = user_trust(events, user_idx, user_pks.size)
        matrix = basket_matrix(events, user_idx, item_idx, trust, n_items=item_pks.size)
        return {
            frozenset(item_pks[col].item() for col in matrix[row].indices)
            for row in range(matrix.shape[0])
        }

    assert baskets() == {frozenset({teapot.pk}), frozenset({mug.pk}), frozenset({coaster.pk})}
    assert sources[0].pop("GROUP_FIELD") == "order"
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "EVENT_SOURCES": sources}
    assert baskets() == {frozenset({teapot.pk}), frozenset({mug.pk, coaster.pk})}


def test_group_keys_are_read_for_the_sources_that_have_a_group_field():
    customer = UserFactory()
    order = OrderFactory(user=customer)
    OrderLineFactory.create_batch(2, order=order)
    OrderLineFactory(order=OrderFactory(user=customer))
    ProductViewFactory(user=customer)

    events = get_adapter().training_events()

    purchases = events.source == events.sources.index("purchase")
    assert events.group is not None and events.group.dtype == np.int64
    assert sorted(np.unique(events.group[purchases], return_counts=True)[1].tolist()) == [1, 2]
    assert (events.group[~purchases] == -1).all()


def test_no_group_field_anywhere_gives_no_group_array(settings):
    sources = copy.deepcopy(django_settings.RECOMMENDATIONS["EVENT_SOURCES"])
    sources[0].pop("GROUP_FIELD")
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "EVENT_SOURCES": sources}
    OrderLineFactory(order=OrderFactory(user=UserFactory()))

    assert get_adapter().training_events().group is None


def test_an_account_without_purchase_fills_no_basket(settings):
    mug, coaster = ProductFactory.create_batch(2)
    passer_by, customer = UserFactory(), UserFactory()
    for product in (mug, coaster):
        ProductViewFactory(user=passer_by, product=product)
    OrderLineFactory(order=OrderFactory(user=customer), product=mug)
    events = get_adapter().training_events()
    user_pks, user_idx = np.unique(events.user_pk, return_inverse=True)
    item_pks, item_idx = np.unique(events.item_pk, return_inverse=True)

    matrix = basket_matrix(
        events, user_idx, item_idx, user_trust(events, user_idx, user_pks.size), n_items=2
    )

    assert matrix.shape[0] == 1 and matrix[0].indices.tolist() == [item_pks.tolist().index(mug.pk)]


@pytest.mark.parametrize(
    ("change", "code", "text"),
    [
        (lambda s: s["EVENT_SOURCES"][0].update(GROUP_FIELD="basket"), "E002", "basket"),
        (lambda s: s["EVENT_SOURCES"][0].update(GROUP_FIELD=""), "E002", "GROUP_FIELD"),
        (lambda s: s.update(BOUGHT_TOGETHER_PARAMS={"lift": 1}), "E003", "lift"),
        # item-kNN's parameters, left from before similar_blend was the default.
        (lambda s: s.update(SIMILAR_PARAMS={"shrinkage": 5}), "E003", "shrinkage"),
    ],
)
def test_a_bad_group_field_or_item_to_item_parameter_is_reported(settings, change, code, text):
    value = copy.deepcopy(django_settings.RECOMMENDATIONS)
    change(value)
    settings.RECOMMENDATIONS = value

    errors = check_settings()

    assert {error.id for error in errors} == {f"recommendations.{code}"}, [e.msg for e in errors]
    assert any(text in error.msg for error in errors)


@pytest.mark.parametrize("with_bought_together", [True, False])
def test_an_artifact_round_trips_with_or_without_bought_together(with_bought_together):
    interactions = np.array([[1, 1, 0], [0, 1, 1]], dtype=np.float32)
    popularity = PopularityRecommender().fit(interactions)
    bought_together = CooccurrenceRecommender().fit(interactions)

    name = artifact_write(
        run_id=7,
        algorithm="popularity",
        recommender=popularity,
        similar=popularity,
        trending=popularity,
        popularity=popularity,
        user_pks=np.array([10, 11]),
        item_pks=np.array([1, 2, 3]),
        **({"bought_together": bought_together} if with_bought_together else {}),
    )
    artifact = artifact_read(name)

    if with_bought_together:
        np.testing.assert_array_equal(
            artifact.bought_together.similarity_.toarray(), bought_together.similarity_.toarray()
        )
    else:
        assert artifact.bought_together is None
    model = serving.ServingModel.from_artifact(7, artifact)
    assert (model.bought_together is None) is not with_bought_together
    assert model.similar.similar_items(0, 2)[0].size > 0


def test_the_reasons_of_the_two_blocks_differ():
    assert reasons.similar_to(label="Blue mug") == "Similar to Blue mug"
    assert reasons.often_bought_with(label="Blue mug") == "Often bought with Blue mug"
