"""Hybrid MLP recommender: numpy serving, cold items, features and persistence."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine import load
from recommendations.engine.interactions import apply_weighting
from recommendations.engine.mlp import MLPRecommender
from tests.engine.test_content import grouped_purchases

SMALL = {
    "factors": 4,
    "content_factors": 4,
    "hidden_layer_sizes": (16, 8),
    "max_iter": 40,
    "max_pairs": 4000,
}


@pytest.fixture(scope="module")
def data() -> dict:
    return grouped_purchases(n_users=90)


@pytest.fixture(scope="module")
def model(data) -> MLPRecommender:
    return MLPRecommender(**SMALL).fit(
        data["interactions"],
        item_features=data["item_features"],
        user_features=data["user_features"],
    )


def naive_scores(model: MLPRecommender, row: sp.csr_matrix, features: np.ndarray) -> np.ndarray:
    """The network applied to the full input row of every (user, item) pair."""
    weighted = apply_weighting(row, model.weighting)
    total = weighted.sum()
    user_cf = (weighted @ model.item_factors_)[0] / total
    user_content = (weighted @ model.item_content_)[0] / total
    user = np.r_[user_cf, user_content, np.log1p(weighted.nnz), features]
    inputs = np.hstack(
        [
            np.tile(user, (model.n_items_, 1)),
            model.item_factors_,
            model.item_content_,
            model.item_popularity_[:, None],
            model.item_cold_[:, None],
            user_cf * model.item_factors_,
            user_content * model.item_content_,
        ]
    )
    hidden = inputs
    for layer, (coef, intercept) in enumerate(zip(model.coefs_, model.intercepts_, strict=True)):
        hidden = hidden @ coef + intercept
        if layer < len(model.coefs_) - 1:
            hidden = np.maximum(hidden, 0)
    return hidden[:, 0]


def test_mlp_vectorised_forward_pass_equals_the_plain_network(model, data):
    user = 5
    row = data["interactions"][user]
    features = data["user_features"][user].toarray()[0]
    fast = model._score_rows(row, data["user_features"][user])[0]
    np.testing.assert_allclose(fast, naive_scores(model, row, features), rtol=1e-4, atol=1e-4)


def test_mlp_ranks_unsold_items_of_the_users_group_above_other_unsold_items(model, data):
    cold = data["cold"]
    users = np.arange(data["interactions"].shape[0])
    scores = model._score_users(users)[:, cold]
    same_group = data["group_of_item"][cold][None, :] == data["user_group"][:, None]
    # For most users, their group's cold items outscore the other groups' cold items.
    wins = [scores[u, same_group[u]].mean() > scores[u, ~same_group[u]].mean() for u in users]
    assert np.mean(wins) > 0.8


def test_mlp_serves_an_anonymous_basket_from_its_items_alone(model, data):
    basket = np.zeros(data["interactions"].shape[1], dtype=np.float32)
    group = 2
    basket[np.flatnonzero(data["group_of_item"] == group)[:3]] = 1.0
    items, scores = model.recommend_interactions(basket, n=5)
    assert items.size == 5 and np.all(np.isfinite(scores))
    assert np.mean(data["group_of_item"][items] == group) >= 0.6
    with pytest.raises(ValueError, match="user_features must have shape"):
        model.recommend_interactions(basket, user_features=np.ones((1, 7)))


def test_mlp_is_deterministic_and_round_trips_without_pickle(model, data):
    again = MLPRecommender(**SMALL).fit(
        data["interactions"],
        item_features=data["item_features"],
        user_features=data["user_features"],
    )
    users = np.arange(20)
    np.testing.assert_array_equal(again._score_users(users), model._score_users(users))
    restored = load(model.to_bytes())
    assert isinstance(restored.coefs_, list) and len(restored.coefs_) == 3
    np.testing.assert_allclose(restored._score_users(users), model._score_users(users))


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hidden_layer_sizes": ()}, "hidden_layer_sizes must be a non-empty sequence"),
        ({"hidden_layer_sizes": (8, 0)}, "hidden_layer_sizes must be a positive integer"),
        ({"cold_dropout": 1.0}, "cold_dropout must be below 1"),
        ({"negatives": 0}, "negatives must be a positive integer"),
    ],
)
def test_mlp_rejects_bad_parameters_at_fit(data, params, message):
    with pytest.raises(ValueError, match=message):
        MLPRecommender(**params).fit(data["interactions"], item_features=data["item_features"])


def test_mlp_needs_items_a_user_has_not_bought(data):
    everything = np.ones((4, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="no item a user has not bought"):
        MLPRecommender(**SMALL).fit(everything, item_features=np.eye(3))
