"""Minimum support: a handful of users cannot make an item trend or link two items."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine.itemknn import ItemKNNRecommender
from recommendations.engine.popularity import PopularityRecommender, TrendingRecommender

DAY = 86_400.0


def _matrix(rows: list[list[int]], n_items: int, values: list[list[float]] | None = None):
    data, indices, indptr = [], [], [0]
    for position, row in enumerate(rows):
        indices += row
        data += values[position] if values else [1.0] * len(row)
        indptr.append(len(indices))
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), n_items), dtype=np.float32)


def test_item_knn_drops_pairs_fewer_users_than_min_support_have_together():
    # Items 0 and 1: three users together; items 0 and 2: two users together.
    matrix = _matrix([[0, 1], [0, 1], [0, 1, 2], [0, 2], [3]], 4)

    linked = ItemKNNRecommender(min_support=3).fit(matrix).similarity_.toarray()
    everything = ItemKNNRecommender().fit(matrix).similarity_.toarray()

    assert linked[0, 1] > 0 and linked[1, 0] > 0
    assert linked[0, 2] == 0 and linked[2, 0] == 0 and linked[1, 2] == 0
    assert everything[0, 2] > 0
    # The pairs kept are scored as without the minimum.
    np.testing.assert_allclose(linked[0, 1], everything[0, 1], rtol=1e-6)


def test_item_knn_counts_distinct_users_not_their_weights():
    # One user with a huge weight on both items is still one user.
    matrix = _matrix([[0, 1], [0, 1]], 2, values=[[50.0, 50.0], [1.0, 1.0]])

    model = ItemKNNRecommender(min_support=3, weighting="raw").fit(matrix)

    assert model.similarity_.nnz == 0


def test_popularity_with_weights_sums_them_and_zeroes_items_below_min_support():
    # Item 0: two users of weight 1; item 1: ten users of weight 0.1 (untrusted).
    matrix = _matrix([[0], [0]] + [[1]] * 10, 2, values=[[1.0], [1.0]] + [[0.1]] * 10)

    weighted = PopularityRecommender(use_weights=True).fit(matrix)
    supported = PopularityRecommender(use_weights=True, min_support=1.5).fit(matrix)

    np.testing.assert_allclose(weighted.item_scores_, [2.0, 1.0], rtol=1e-6)
    np.testing.assert_allclose(supported.item_scores_, [2.0, 0.0], rtol=1e-6)


def test_a_support_summed_from_fractions_reaches_its_minimum():
    matrix = _matrix([[0]] * 30, 1, values=[[0.1]] * 30)

    model = PopularityRecommender(use_weights=True, min_support=3).fit(matrix)

    assert model.item_scores_[0] == pytest.approx(3.0, rel=1e-5)


def test_trending_weighs_each_users_decayed_latest_time_by_the_pair_weight():
    matrix = _matrix([[0, 1], [0], [1]], 2, values=[[1.0, 0.5], [1.0], [0.2]])
    now = 100 * DAY
    times = sp.csr_matrix(
        ([now, now - 7 * DAY, now - 7 * DAY, now], matrix.indices, matrix.indptr),
        shape=matrix.shape,
    )

    model = TrendingRecommender(half_life_days=7.0, use_weights=True).fit(matrix, timestamps=times)
    unweighted = TrendingRecommender(half_life_days=7.0).fit(matrix, timestamps=times)

    np.testing.assert_allclose(model.item_scores_, [1.0 + 0.5, 0.5 * 0.5 + 0.2], rtol=1e-5)
    np.testing.assert_allclose(unweighted.item_scores_, [1.5, 1.5], rtol=1e-5)


def test_trending_below_min_support_does_not_trend():
    matrix = _matrix([[0], [0], [0], [1], [1]], 2)
    times = sp.csr_matrix((np.full(5, 10 * DAY), matrix.indices, matrix.indptr), shape=(5, 2))

    model = TrendingRecommender(min_support=3).fit(matrix, timestamps=times)

    assert model.item_scores_[0] > 0 and model.item_scores_[1] == 0
    # Serving drops zero scores: the item never shows as trending.
    ids, scores = model.recommend_interactions(sp.csr_matrix((1, 2)), 2, exclude_seen=False)
    assert ids.tolist() == [0, 1] and scores[1] == 0


@pytest.mark.parametrize(
    "model",
    [
        ItemKNNRecommender(min_support=-1),
        PopularityRecommender(min_support=float("nan")),
        TrendingRecommender(min_support="3"),
    ],
)
def test_a_bad_min_support_is_a_clear_error(model):
    with pytest.raises(ValueError, match="min_support"):
        model.fit(_matrix([[0, 1]], 2))
