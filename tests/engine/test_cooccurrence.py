"""Bought together (baskets) and similar (look-alikes plus shared buyers) item-to-item models."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine import load
from recommendations.engine.cooccurrence import CooccurrenceRecommender
from recommendations.engine.itemknn import ItemKNNRecommender
from recommendations.engine.similar import SimilarBlendRecommender

# Items of the small catalog below.
MUG, COASTER, OTHER_MUG, TEAPOT, FILLER = 0, 1, 2, 3, 4
N_ITEMS = 5


def baskets(*rows: tuple[list[int], float]) -> sp.csr_matrix:
    """A baskets x items matrix: each row's items, with the basket's weight."""
    dense = np.zeros((len(rows), N_ITEMS), dtype=np.float32)
    for row, (items, weight) in enumerate(rows):
        dense[row, items] = weight
    return sp.csr_matrix(dense)


def neighbours(model, item: int) -> list[int]:
    return model.similar_items(item, N_ITEMS)[0].tolist()


def two_orders_per_customer(n_customers: int = 6) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Each customer orders a mug with its coaster, and another mug in a later order.

    Returns the baskets x items matrix (two rows per customer) and the customers x items
    matrix of the same purchases, as a model over users sees them.
    """
    rows = []
    for _ in range(n_customers):
        rows += [([MUG, COASTER], 1.0), ([OTHER_MUG], 1.0)]
    orders = baskets(*rows)
    customers = sp.csr_matrix(orders[0::2] + orders[1::2])
    return orders, customers


def test_complements_in_one_basket_rank_above_items_the_same_users_bought_in_other_orders():
    orders, customers = two_orders_per_customer()

    together = CooccurrenceRecommender().fit(orders)
    over_users = ItemKNNRecommender().fit(customers)

    assert neighbours(together, MUG) == [COASTER]
    # Over users, the mug of the other order is as close as the coaster of the same order.
    assert set(neighbours(over_users, MUG)) == {COASTER, OTHER_MUG}


def test_a_basket_counts_once_per_pair_whatever_the_quantities():
    one_each = baskets(([MUG, COASTER], 1.0), ([MUG, TEAPOT], 1.0), ([MUG, TEAPOT], 1.0))
    dozens = one_each.copy()
    dozens.data[:2] = 12.0  # a dozen mugs and a dozen coasters in the first order

    fitted = CooccurrenceRecommender().fit(one_each)
    with_quantities = CooccurrenceRecommender().fit(dozens)

    np.testing.assert_array_equal(
        with_quantities.similarity_.toarray(), fitted.similarity_.toarray()
    )
    # Two baskets with the teapot outweigh one with the coaster, however many coasters.
    assert neighbours(with_quantities, MUG) == [TEAPOT, COASTER]


def test_pairs_held_by_fewer_baskets_than_min_support_get_no_similarity():
    orders = baskets(
        *[([MUG, COASTER], 1.0)] * 3,
        *[([MUG, TEAPOT], 1.0)] * 2,
    )

    assert neighbours(CooccurrenceRecommender(min_support=3).fit(orders), MUG) == [COASTER]
    assert neighbours(CooccurrenceRecommender().fit(orders), MUG) == [COASTER, TEAPOT]


def test_a_basket_weighs_its_buyers_trust_in_the_support():
    # Four baskets of half-trusted buyers hold the support of two baskets.
    orders = baskets(*[([MUG, COASTER], 0.5)] * 4, *[([MUG, TEAPOT], 1.0)] * 3)

    assert neighbours(CooccurrenceRecommender(min_support=3).fit(orders), MUG) == [TEAPOT]
    assert set(neighbours(CooccurrenceRecommender(min_support=2).fit(orders), MUG)) == {
        COASTER,
        TEAPOT,
    }


def test_a_best_seller_in_every_basket_is_damped_by_alpha():
    # The coaster is in 6 of the 10 mug orders, the filler in 8 of them and 100 others.
    rows = [([MUG, COASTER, FILLER], 1.0)] * 6 + [([MUG, FILLER], 1.0)] * 2
    rows += [([MUG], 1.0)] * 2 + [([FILLER, TEAPOT], 1.0)] * 100
    orders = baskets(*rows)

    assert neighbours(CooccurrenceRecommender(alpha=0.5).fit(orders), MUG)[0] == COASTER
    # Plain confidence, P(filler | mug) = 0.8 > P(coaster | mug) = 0.6.
    assert neighbours(CooccurrenceRecommender(alpha=0.0).fit(orders), MUG)[0] == FILLER


def test_a_cart_scores_the_complements_of_its_items():
    orders = baskets(*[([MUG, COASTER], 1.0)] * 3, *[([TEAPOT, FILLER], 1.0)] * 3)
    model = CooccurrenceRecommender().fit(orders)
    cart = np.zeros(N_ITEMS, dtype=np.float32)
    cart[[MUG, TEAPOT]] = 1.0

    items, scores = model.recommend_interactions(cart, N_ITEMS)

    # Items never bought with the cart's score nothing (serving drops zeros).
    assert set(items[scores > 0].tolist()) == {COASTER, FILLER}


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"alpha": 1.5}, "alpha"),
        ({"shrinkage": -1.0}, "shrinkage"),
        ({"min_support": float("nan")}, "min_support"),
        ({"k": 0}, "k must"),
        ({"weighting": "squared"}, "weighting"),
    ],
)
def test_bad_parameters_name_themselves(params, match):
    orders, _ = two_orders_per_customer()
    with pytest.raises(ValueError, match=match):
        CooccurrenceRecommender(**params).fit(orders)


# -- similar: alternatives ------------------------------------------------------------------


def mug_and_coaster_shop() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Customers buy a mug with its coaster; content says which items are mugs.

    Items 0-3 are mugs, 4-7 their coasters. Every customer buys mug ``i`` and coaster
    ``i``; a few also buy the next mug. Returns the users x items matrix and the item
    features (the category, one-hot).
    """
    n_items = 8
    rows = []
    for i in range(4):
        for copy in range(5):
            row = np.zeros(n_items, dtype=np.float32)
            row[[i, 4 + i]] = 1.0
            if copy < 2:
                row[(i + 1) % 4] = 1.0
            rows.append(row)
    features = np.zeros((n_items, 2), dtype=np.float32)
    features[:4, 0] = 1.0
    features[4:, 1] = 1.0
    return sp.csr_matrix(np.stack(rows)), sp.csr_matrix(features)


def test_similar_ranks_look_alikes_of_the_same_kind_above_complements():
    interactions, features = mug_and_coaster_shop()

    similar = SimilarBlendRecommender().fit(interactions, item_features=features)
    behaviour = ItemKNNRecommender().fit(interactions)

    assert set(neighbours(similar, 0)[:3]) == {1, 2, 3}
    # Among the mugs, the ones the same customers buy come first.
    assert neighbours(similar, 0)[0] in {1, 3}
    # Over buyers alone, the coaster bought with every mug 0 leads.
    assert neighbours(behaviour, 0)[0] == 4


def test_similar_without_item_features_ranks_like_item_knn():
    interactions, _ = mug_and_coaster_shop()

    similar = SimilarBlendRecommender(k=5, min_support=2).fit(interactions)
    behaviour = ItemKNNRecommender(k=5, min_support=2).fit(interactions)

    for item in range(8):
        assert neighbours(similar, item) == neighbours(behaviour, item)


def test_similar_survives_a_save_and_load():
    interactions, features = mug_and_coaster_shop()
    similar = SimilarBlendRecommender().fit(interactions, item_features=features)

    loaded = load(similar.to_bytes())

    for item in range(8):
        assert neighbours(loaded, item) == neighbours(similar, item)


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"content_weight": 1.5}, "content_weight"),
        ({"item_knn": {"neighbours": 5}}, "item_knn has no parameter"),
    ],
)
def test_bad_similar_parameters_name_themselves(params, match):
    interactions, features = mug_and_coaster_shop()
    with pytest.raises(ValueError, match=match):
        SimilarBlendRecommender(**params).fit(interactions, item_features=features)
