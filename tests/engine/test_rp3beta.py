"""RP3beta: a random walk item -> user -> item with a popularity penalty."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine import load
from recommendations.engine.rp3beta import RP3betaRecommender
from tests.floats import FLOAT32_ATOL, FLOAT32_RTOL


def chain_data() -> sp.csr_matrix:
    """Item 0 is co-bought with a best seller (1) and with a niche item (2).

    Users 0-1 buy items 0 and 1, user 2 buys items 0 and 2, users 3-8 buy item 1 with 3.
    """
    dense = np.zeros((9, 4), dtype=np.float32)
    dense[[0, 1], 0] = dense[[0, 1], 1] = 1.0
    dense[2, [0, 2]] = 1.0
    dense[3:, [1, 3]] = 1.0
    return sp.csr_matrix(dense)


def test_similarity_is_the_walk_probability_without_penalty():
    interactions = chain_data()
    model = RP3betaRecommender(beta=0.0, k=10, normalise=False).fit(interactions)
    dense = interactions.toarray()
    user_to_item = dense / dense.sum(axis=1, keepdims=True)
    item_to_user = dense.T / dense.T.sum(axis=1, keepdims=True)
    expected = item_to_user @ user_to_item
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(
        model.similarity_.toarray(), expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
    )


def test_beta_moves_the_neighbours_of_an_item_away_from_the_best_seller():
    interactions = chain_data()
    plain = RP3betaRecommender(beta=0.0, k=10).fit(interactions)
    penalised = RP3betaRecommender(beta=1.0, k=10).fit(interactions)
    # Item 1 (bought by 8 users) is item 0's nearest walk, the niche item 2 after it...
    assert plain.similar_items(0, 2)[0].tolist() == [1, 2]
    # ...until its popularity is penalised.
    assert penalised.similar_items(0, 2)[0].tolist() == [2, 1]


def test_each_item_keeps_k_neighbours_summing_to_one_when_normalised():
    rng = np.random.default_rng(0)
    interactions = sp.csr_matrix((rng.random((50, 30)) < 0.3).astype(np.float32))
    model = RP3betaRecommender(k=4).fit(interactions)
    counts = np.diff(model.similarity_.indptr)
    assert counts.max() == 4
    sums = np.asarray(model.similarity_.sum(axis=1)).ravel()
    np.testing.assert_allclose(sums[counts > 0], 1.0, rtol=1e-5)
    assert np.all(model.similarity_.diagonal() == 0)


def test_scores_are_the_history_times_the_similarity_and_survive_a_round_trip():
    interactions = chain_data()
    model = RP3betaRecommender(alpha=0.7, beta=0.3, k=2).fit(interactions)
    expected = interactions.toarray() @ model.similarity_.toarray()
    np.testing.assert_allclose(
        model._score_users(np.arange(9)), expected, rtol=FLOAT32_RTOL, atol=FLOAT32_ATOL
    )
    restored = load(model.to_bytes())
    np.testing.assert_array_equal(
        restored.recommend_batch(np.arange(9), 3)[0], model.recommend_batch(np.arange(9), 3)[0]
    )
    assert restored.explain(1, user_id=2) == model.explain(1, user_id=2)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"alpha": 0}, "alpha must be positive"),
        ({"alpha": -1}, "alpha must be a finite number"),
        ({"beta": float("nan")}, "beta must be a finite number"),
        ({"k": 0}, "k must be a positive integer"),
        ({"normalise": "yes"}, "normalise must be True or False"),
        ({"weighting": "squared"}, "weighting must be one of"),
    ],
)
def test_bad_parameters_raise_a_clear_value_error(params, message):
    with pytest.raises(ValueError, match=message):
        RP3betaRecommender(**params).fit(chain_data())
