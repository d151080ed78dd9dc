"""Behaviour specific to each algorithm of the engine's collaborative core."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine import (
    EASERecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    SVDRecommender,
    TrendingRecommender,
    UserKNNRecommender,
)
from recommendations.engine.itemknn import top_k_per_row

DAY = 86_400.0
NOW = 1.7e9


def trending_data() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Item 0: three users 60 days ago. Item 1: two users yesterday. Item 2: one, today."""
    interactions = sp.csr_matrix(
        np.array([[1, 0, 0], [1, 0, 0], [1, 0, 0], [0, 1, 0], [0, 1, 1]], dtype=np.float32)
    )
    stamps = interactions.astype(np.float64)
    stamps.data = np.array([NOW - 60 * DAY] * 3 + [NOW - DAY, NOW - DAY, NOW])
    return interactions, stamps


def test_trending_prefers_recent_purchases_over_old_best_sellers():
    interactions, stamps = trending_data()
    items, scores = (
        TrendingRecommender(half_life_days=7)
        .fit(interactions, timestamps=stamps)
        .recommend_interactions(np.zeros(3), 3)
    )
    assert items.tolist() == [1, 2, 0]
    np.testing.assert_allclose(scores, [2 * 0.5 ** (1 / 7), 1.0, 3 * 0.5 ** (60 / 7)], rtol=1e-5)


def test_trending_with_a_long_half_life_approaches_popularity():
    interactions, stamps = trending_data()
    items, _ = (
        TrendingRecommender(half_life_days=10_000)
        .fit(interactions, timestamps=stamps)
        .recommend_interactions(np.zeros(3), 3)
    )
    assert items.tolist() == [0, 1, 2]


def test_trending_measures_age_from_the_given_now():
    interactions, stamps = trending_data()
    recommender = TrendingRecommender(half_life_days=1, now=NOW + 9 * DAY)
    _, scores = recommender.fit(interactions, timestamps=stamps).recommend_interactions(
        np.zeros(3), 3
    )
    np.testing.assert_allclose(scores[:2], [2 * 0.5**10, 0.5**9], rtol=1e-5)


def test_trending_without_timestamps_is_popularity():
    interactions, _ = trending_data()
    trending = TrendingRecommender().fit(interactions)
    popularity = PopularityRecommender().fit(interactions)
    np.testing.assert_array_equal(trending.item_scores_, popularity.item_scores_)


@pytest.mark.parametrize(
    ("recommender", "message"),
    [
        (TrendingRecommender(half_life_days=0), "half_life_days"),
        (TrendingRecommender(now="yesterday"), "now"),
        (ItemKNNRecommender(k=0), "k must be"),
        (ItemKNNRecommender(alpha=2.0), "alpha"),
        (ItemKNNRecommender(shrinkage=-1), "shrinkage"),
        (ItemKNNRecommender(weighting="sqrt"), "weighting"),
        (UserKNNRecommender(k=1.5), "k must be"),
        (SVDRecommender(factors=0), "factors"),
        (SVDRecommender(random_state=None), "random_state"),
        (EASERecommender(l2=0), "l2"),
        (EASERecommender(max_items=2), "max_items=2"),
    ],
)
def test_bad_hyper_parameters_raise_a_clear_value_error(recommender, message):
    with pytest.raises(ValueError, match=message):
        recommender.fit(sp.csr_matrix(np.eye(3, dtype=np.float32)), timestamps=sp.eye(3))


def test_hyper_parameters_are_stored_as_given_without_validation():
    recommender = ItemKNNRecommender(k=-5, weighting="nonsense")
    assert recommender.get_params()["k"] == -5
    assert recommender.get_params()["weighting"] == "nonsense"


def test_user_knn_never_takes_a_known_user_as_their_own_neighbour():
    interactions = sp.csr_matrix(
        np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1]], dtype=np.float32)
    )
    recommender = UserKNNRecommender(k=1).fit(interactions)
    items, scores = recommender.recommend(0, 4, exclude_seen=False)
    by_item = dict(zip(items.tolist(), scores.tolist(), strict=True))
    # The only neighbour is user 1: item 1, which only user 0 has, gets no vote.
    assert by_item[0] > 0 and by_item[2] > 0
    assert by_item[1] == 0 and by_item[3] == 0


@pytest.mark.parametrize(
    "recommender",
    [ItemKNNRecommender(k=5), SVDRecommender(factors=3), EASERecommender(l2=2.0)],
    ids=["item_knn", "svd", "ease"],
)
def test_an_ad_hoc_row_equal_to_a_known_user_is_ranked_like_that_user(recommender):
    rng = np.random.default_rng(3)
    interactions = sp.csr_matrix(rng.poisson(0.6, size=(25, 12)).astype(np.float32))
    recommender.fit(interactions)
    for user in range(25):
        known = recommender.recommend(user, 6)
        ad_hoc = recommender.recommend_interactions(interactions[user], 6)
        np.testing.assert_array_equal(known[0], ad_hoc[0])
        np.testing.assert_allclose(known[1], ad_hoc[1], rtol=1e-4, atol=1e-6)


def test_ease_weights_have_a_zero_diagonal_and_solve_the_ridge_problem():
    rng = np.random.default_rng(5)
    dense = (rng.random((40, 6)) < 0.4).astype(np.float64)
    recommender = EASERecommender(l2=3.0).fit(dense)
    weights = recommender.weights_.astype(np.float64)
    assert np.all(np.diag(weights) == 0)
    # Each column is the ridge regression of that item on the others.
    gram = dense.T @ dense
    for item in range(6):
        others = [j for j in range(6) if j != item]
        system = gram[np.ix_(others, others)] + 3.0 * np.eye(5)
        expected = np.linalg.solve(system, gram[others, item])
        np.testing.assert_allclose(weights[others, item], expected, rtol=1e-4, atol=1e-6)


def test_item_knn_keeps_at_most_k_neighbours_per_item():
    rng = np.random.default_rng(2)
    interactions = sp.csr_matrix((rng.random((60, 30)) < 0.3).astype(np.float32))
    similarity = ItemKNNRecommender(k=4).fit(interactions).similarity_
    assert np.diff(similarity.indptr).max() <= 4
    assert np.all(similarity.diagonal() == 0)


def test_top_k_per_row_keeps_the_largest_positive_entries_ties_to_the_lower_column():
    matrix = sp.csr_matrix(np.array([[3, 1, 3, 3, -2], [0, -1, 2, 0, 0], [1, 1, 1, 1, 1.0]]))
    kept = top_k_per_row(matrix, 2).toarray()
    np.testing.assert_array_equal(kept, [[3, 0, 3, 0, 0], [0, 0, 2, 0, 0], [1, 1, 0, 0, 0]])
