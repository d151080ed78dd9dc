"""Behaviour specific to each algorithm of the engine's collaborative core."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine import (
    EASERecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    RP3betaRecommender,
    SVDRecommender,
    TrendingRecommender,
    UserKNNRecommender,
    load,
)
from recommendations.engine.itemknn import row_product, top_k_per_row
from tests.floats import FLOAT32_ATOL, FLOAT32_RTOL

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
        (EASERecommender(recency_half_life_days=0), "recency_half_life_days must be positive"),
        (ItemKNNRecommender(recency_half_life_days=-1), "recency_half_life_days must be a"),
        (SVDRecommender(recency_half_life_days="30"), "recency_half_life_days must be a"),
        (EASERecommender(max_history=0), "max_history must be"),
        (ItemKNNRecommender(max_history=2.5), "max_history must be"),
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


@pytest.mark.parametrize("density", [0.0, 0.05, 0.4, 1.0])
def test_row_product_equals_the_sparse_product_of_the_row(density):
    rng = np.random.default_rng(int(density * 100))
    matrix = sp.random(30, 17, density=density, format="csr", dtype=np.float32, rng=rng)
    for size in (0, 1, 5, 30):
        indices = np.sort(rng.choice(30, size=size, replace=False))
        weights = rng.random(size).astype(np.float32)
        row = sp.csr_matrix((weights, indices, [0, size]), shape=(1, 30))
        expected = (row @ matrix).toarray()[0]
        for transposed in (None, matrix.T.tocsr()):
            # With the transpose, rows holding many entries take the dense product.
            result = row_product(indices, weights, matrix, transposed)
            assert result.shape == (17,) and result.dtype == np.float32
            np.testing.assert_allclose(result, expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL)


def recency_data() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Item 2 goes with item 0 (4 buyers), item 3 with item 1 (2 buyers).

    The last user bought item 0 300 days ago and item 1 today: without decay item 0's
    stronger partner (2) comes first, with decay the partner of the recent item (3).
    """
    dense = np.zeros((7, 4), dtype=np.float32)
    dense[:4, [0, 2]] = 1.0
    dense[4:6, [1, 3]] = 1.0
    dense[6, [0, 1]] = 1.0
    interactions = sp.csr_matrix(dense)
    stamps = interactions.astype(np.float64)
    stamps.data[:] = NOW - 10 * DAY
    stamps[6, 0] = NOW - 300 * DAY
    stamps[6, 1] = NOW
    return interactions, sp.csr_matrix(stamps)


RECENCY_MODELS = {
    "item_knn": lambda days: ItemKNNRecommender(k=5, recency_half_life_days=days),
    "svd": lambda days: SVDRecommender(factors=2, recency_half_life_days=days),
    "ease": lambda days: EASERecommender(l2=1.0, recency_half_life_days=days),
    "rp3beta": lambda days: RP3betaRecommender(k=5, recency_half_life_days=days),
}


@pytest.mark.parametrize("name", sorted(RECENCY_MODELS))
def test_recency_ranks_the_partner_of_the_recent_purchase_first(name):
    interactions, stamps = recency_data()
    plain = RECENCY_MODELS[name](None).fit(interactions, timestamps=stamps)
    recent = RECENCY_MODELS[name](30).fit(interactions, timestamps=stamps)
    assert recent.recommend(6, 2)[0].tolist() == [3, 2]
    if name != "svd":
        # SVD's two factors already mix the two groups: it may rank item 3 first anyway.
        assert plain.recommend(6, 2)[0].tolist() == [2, 3]
    plain_scores, recent_scores = plain._score_users([6])[0], recent._score_users([6])[0]
    margin = (recent_scores[3] - recent_scores[2]) / np.abs(recent_scores).max()
    assert margin > (plain_scores[3] - plain_scores[2]) / np.abs(plain_scores).max()
    # The item weights are learned from every event alike: only the history decays.
    np.testing.assert_array_equal(plain.similar_items(0, 3)[0], recent.similar_items(0, 3)[0])
    # An ad-hoc row is scored as given (the caller decays it).
    ad_hoc = recent.recommend_interactions(interactions[6], 2)[0]
    assert ad_hoc.tolist() == plain.recommend(6, 2)[0].tolist()


@pytest.mark.parametrize("name", sorted(RECENCY_MODELS))
def test_recency_state_survives_a_round_trip_and_is_absent_without_decay(name):
    interactions, stamps = recency_data()
    recent = RECENCY_MODELS[name](30).fit(interactions, timestamps=stamps)
    restored = load(recent.to_bytes())
    np.testing.assert_array_equal(restored.timestamps_.toarray(), stamps.toarray())
    np.testing.assert_allclose(
        restored._score_users(np.arange(7)), recent._score_users(np.arange(7))
    )
    assert restored.recommend(6, 2)[0].tolist() == [3, 2]
    assert RECENCY_MODELS[name](None).fit(interactions, timestamps=stamps).timestamps_ is None


def test_recency_decays_each_user_from_their_own_latest_event():
    interactions, stamps = recency_data()
    model = EASERecommender(l2=1.0, recency_half_life_days=30).fit(interactions, timestamps=stamps)
    history = model._history(np.array([0, 6])).toarray()
    # User 0's events are all 10 days old, yet none is decayed: age counts from their last.
    np.testing.assert_allclose(history[0], [1, 0, 1, 0])
    np.testing.assert_allclose(history[1], [0.5**10, 1, 0, 0], rtol=1e-5)


def test_recency_without_timestamps_decays_nothing():
    interactions, _ = recency_data()
    plain = EASERecommender(l2=1.0).fit(interactions)
    recent = EASERecommender(l2=1.0, recency_half_life_days=30).fit(interactions)
    assert recent.timestamps_ is None
    np.testing.assert_allclose(
        recent._score_users(np.arange(7)),
        plain._score_users(np.arange(7)),
        rtol=FLOAT32_RTOL,
        atol=FLOAT32_ATOL,
    )


def test_recency_rejects_interactions_without_a_time():
    interactions, stamps = recency_data()
    stamps = stamps.tolil()
    stamps[6, 0] = 0.0
    with pytest.raises(ValueError, match="finite time for every interaction"):
        ItemKNNRecommender(recency_half_life_days=30).fit(interactions, timestamps=stamps)


def long_histories() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Twenty users over twelve items, most with more than three, each bought on its own day."""
    rng = np.random.default_rng(11)
    interactions = sp.csr_matrix((rng.random((20, 12)) < 0.5).astype(np.float32))
    stamps = interactions.astype(np.float64)
    stamps.data = NOW - DAY * rng.permutation(stamps.nnz).astype(np.float64)
    return interactions, stamps


def heaviest(row: sp.csr_matrix, limit: int) -> sp.csr_matrix:
    """The ``limit`` largest entries of a 1 x n row, every other entry dropped."""
    dense = row.toarray()[0]
    kept = np.zeros_like(dense)
    order = np.argsort(-dense, kind="stable")[:limit]
    kept[order] = dense[order]
    return sp.csr_matrix(kept[None, :])


@pytest.mark.parametrize("name", sorted(RECENCY_MODELS))
def test_max_history_scores_a_long_history_by_its_heaviest_items_only(name):
    interactions, stamps = long_histories()
    model = RECENCY_MODELS[name](30)
    capped = type(model)(**{**model.get_params(), "max_history": 3})
    capped.fit(interactions, timestamps=stamps)
    whole = type(model)(**{**model.get_params(), "max_history": None})
    whole.fit(interactions, timestamps=stamps)
    long_users = np.flatnonzero(np.diff(interactions.indptr) > 3)
    assert long_users.size >= 5
    for user in long_users:
        # Known users: the three most recent purchases (the heaviest once decayed).
        history = whole._history(np.array([user]))
        np.testing.assert_allclose(
            capped._score_users(np.array([user]))[0],
            whole._score_weighted(heaviest(history, 3))[0],
            rtol=1e-5,
            atol=1e-6,
        )
        assert not np.allclose(
            whole._score_users(np.array([user]))[0], capped._score_users(np.array([user]))[0]
        )
        # Every item of the whole history is still excluded, not only the three.
        items, _ = capped.recommend(int(user), 12)
        assert not set(items.tolist()) & set(interactions[user].indices.tolist())
        # Ad-hoc rows (weighted by the caller) are capped by their own weights.
        row = sp.csr_matrix(interactions[user].multiply(np.arange(1, 13, dtype=np.float32)))
        np.testing.assert_allclose(
            capped._score_rows(row, None)[0],
            whole._score_rows(heaviest(row, 3), None)[0],
            rtol=1e-5,
            atol=1e-6,
        )
