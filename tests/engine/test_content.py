"""Content-based recommender: neighbours from item features, cold items included."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.preprocessing import normalize

from recommendations.engine import load
from recommendations.engine.content import ContentRecommender, normalize_rows
from recommendations.engine.features import item_features

GROUPS = ("mug", "lantern", "cushion")
ITEMS_PER_GROUP = 12
COLD_PER_GROUP = 2  # the last items of each group: nobody bought them


def grouped_purchases(n_users: int = 60, seed: int = 0) -> dict:
    """Users who each buy within one product group; some items of every group are unsold.

    Returns the interactions, item features (text and category reveal the group),
    user features, timestamps over 90 days, each user's group and the cold items.
    """
    rng = np.random.default_rng(seed)
    n_items = len(GROUPS) * ITEMS_PER_GROUP
    group_of_item = np.repeat(np.arange(len(GROUPS)), ITEMS_PER_GROUP)
    cold = np.flatnonzero(np.arange(n_items) % ITEMS_PER_GROUP >= ITEMS_PER_GROUP - COLD_PER_GROUP)
    user_group = np.arange(n_users) % len(GROUPS)
    # Popularity falls with the position inside a group, as in a long tail.
    weights = 1.0 / np.arange(1, ITEMS_PER_GROUP - COLD_PER_GROUP + 1)
    dense = np.zeros((n_users, n_items), dtype=np.float32)
    for user, group in enumerate(user_group):
        picks = rng.choice(weights.size, size=4, replace=False, p=weights / weights.sum())
        dense[user, group * ITEMS_PER_GROUP + picks] = rng.integers(1, 4, size=picks.size)
    interactions = sp.csr_matrix(dense)
    stamps = interactions.astype(np.float64)
    stamps.data = 1.7e9 + rng.uniform(0, 90 * 86_400, size=stamps.nnz)
    colours = ("red", "blue", "green", "white")
    texts = [
        f"{colours[i % len(colours)]} {GROUPS[g]} number {i}" for i, g in enumerate(group_of_item)
    ]
    return {
        "interactions": interactions,
        "item_features": item_features(
            texts, [GROUPS[g] for g in group_of_item], rng.uniform(1, 20, size=n_items)
        ),
        "user_features": sp.csr_matrix(np.eye(len(GROUPS), dtype=np.float32)[user_group]),
        "timestamps": stamps,
        "user_group": user_group,
        "group_of_item": group_of_item,
        "cold": cold,
    }


def test_content_recommends_unsold_items_of_the_group_the_user_buys_from():
    data = grouped_purchases()
    model = ContentRecommender(k=10).fit(data["interactions"], item_features=data["item_features"])
    # The user has 4 of the 12 items of their group: the other 8 come first, cold ones too.
    items, _ = model.recommend(0, n=ITEMS_PER_GROUP - 4)
    assert np.all(data["group_of_item"][items] == data["user_group"][0])
    assert np.intersect1d(items, data["cold"]).size == COLD_PER_GROUP


def test_content_similar_items_of_a_cold_item_share_its_group():
    data = grouped_purchases()
    model = ContentRecommender(k=10).fit(data["interactions"], item_features=data["item_features"])
    cold_item = int(data["cold"][-1])
    items, scores = model.similar_items(cold_item, n=5)
    assert items.size == 5 and cold_item not in items
    assert np.all(data["group_of_item"][items] == data["group_of_item"][cold_item])
    assert np.all(np.diff(scores) <= 0)


def test_content_explains_a_recommendation_by_the_most_similar_bought_item():
    data = grouped_purchases()
    model = ContentRecommender(k=10).fit(data["interactions"], item_features=data["item_features"])
    items, _ = model.recommend(0, n=1)
    reasons = model.explain(int(items[0]), user_id=0)
    bought = data["interactions"][0].indices
    assert reasons and all(item in bought for item, _ in reasons)
    assert sum(share for _, share in reasons) <= 1.0 + 1e-6


def test_content_round_trips_through_save_and_load():
    data = grouped_purchases()
    model = ContentRecommender(k=7).fit(data["interactions"], item_features=data["item_features"])
    restored = load(model.to_bytes())
    assert restored.get_params() == {
        "k": 7,
        "weighting": "log",
        "recency_half_life_days": None,
        "max_history": 200,
    }
    np.testing.assert_array_equal(
        restored.recommend_batch(np.arange(10), 5)[0], model.recommend_batch(np.arange(10), 5)[0]
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_normalize_rows_matches_scikit_learns_l2_normalize_and_leaves_empty_rows(dtype):
    rng = np.random.default_rng(0)
    dense = rng.integers(0, 4, size=(20, 9)) * (rng.random((20, 9)) < 0.3)
    dense[3] = 0
    features = sp.csr_matrix(dense.astype(dtype))

    result = normalize_rows(features)

    expected = normalize(features)
    assert result.dtype == expected.dtype
    np.testing.assert_allclose(result.toarray(), expected.toarray(), rtol=1e-6)
    assert features.toarray().tolist() == dense.tolist()  # the input is left as it was
