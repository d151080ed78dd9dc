"""Properties every registered recommender keeps on arbitrary small matrices."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from recommendations.engine.base import top_n
from tests.engine.test_contract import NAMES, make

CORE = {"popularity", "trending", "item_knn", "user_knn", "svd", "ease"}
WEIGHTS = st.sampled_from([0.0, 0.0, 0.0, 1.0, 2.0, 0.5, 7.0])


@st.composite
def problems(draw):
    """A random interaction matrix, feature matrices, a list length and a model name."""
    n_users = draw(st.integers(1, 9))
    n_items = draw(st.integers(1, 8))
    interactions = draw(arrays(np.float32, (n_users, n_items), elements=WEIGHTS))
    item_features = draw(arrays(np.float32, (n_items, 3), elements=st.sampled_from([0.0, 1.0])))
    user_features = draw(arrays(np.float32, (n_users, 2), elements=st.sampled_from([0.0, 1.0])))
    vector = draw(arrays(np.float32, (n_items,), elements=WEIGHTS))
    n = draw(st.integers(1, 12))
    name = draw(st.sampled_from(NAMES))
    return name, interactions, item_features, user_features, vector, n


def check_rows(items: np.ndarray, scores: np.ndarray, n: int, n_items: int) -> None:
    assert items.shape == scores.shape
    assert items.shape[-1] <= min(n, n_items)
    for row_items, row_scores in zip(np.atleast_2d(items), np.atleast_2d(scores), strict=True):
        valid = row_items >= 0
        # Padding only at the end, and only padding has -inf.
        assert np.all(valid[: valid.sum()])
        assert np.all(np.isfinite(row_scores[valid]))
        assert np.all(row_scores[~valid] == -np.inf)
        chosen = row_items[valid]
        assert np.all(chosen < n_items)
        assert np.unique(chosen).size == chosen.size


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_rankings_are_finite_unique_valid_and_never_longer_than_n(problem):
    name, interactions, item_features, user_features, vector, n = problem
    n_users, n_items = interactions.shape
    recommender = make(name)
    try:
        recommender.fit(interactions, item_features=item_features, user_features=user_features)
    except ValueError as error:
        # A model may refuse data it cannot learn from, with a message saying why;
        # the collaborative core of the engine must take any non-empty matrix.
        assert name not in CORE and str(error)
        return
    items, scores = recommender.recommend_batch(np.arange(n_users), n)
    check_rows(items, scores, n, n_items)
    for user in range(n_users):
        seen = set(np.flatnonzero(interactions[user]).tolist())
        assert not seen & set(items[user][items[user] >= 0].tolist())
    items, scores = recommender.recommend_interactions(
        vector, n, user_features=np.ones((1, 2), dtype=np.float32)
    )
    check_rows(items, scores, n, n_items)
    assert not set(np.flatnonzero(vector).tolist()) & set(items.tolist())
    items, scores = recommender.similar_items(0, n)
    check_rows(items, scores, n, n_items)
    assert 0 not in items.tolist()


SCORES = st.sampled_from([-np.inf, np.inf, np.nan, -1.0, 0.0, 0.5, 2.0, 2.0, 3.0])


@given(scores=arrays(np.float32, st.integers(0, 30), elements=SCORES), n=st.integers(1, 35))
def test_top_n_is_the_n_best_finite_scores_ties_to_the_lower_index(scores, n):
    items, best = top_n(scores, n)
    finite = [i for i in range(scores.size) if np.isfinite(scores[i])]
    expected = sorted(finite, key=lambda i: (-scores[i], i))[:n]
    assert items.dtype == np.int64 and best.dtype == np.float32
    assert items.tolist() == expected
    np.testing.assert_array_equal(best, scores[expected])
