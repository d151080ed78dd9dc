"""The social blend's per-user gate: features, ridge choice, cross-fitting, no loss."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine import EASERecommender, SocialBlendRecommender, load
from recommendations.engine.social_gate import (
    GATE_FEATURES,
    cross_fitted_choice,
    fit_gate,
    gate_choice,
    gate_features,
    top_of_entries,
    top_rows,
)
from tests.engine.test_social import follows, group_data


def gains_by_feature(n_users: int = 400, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Users for whom weight 1 gains exactly when their *agreement* is above 0.5."""
    rng = np.random.default_rng(seed)
    features = rng.random((n_users, len(GATE_FEATURES)))
    helps = features[:, GATE_FEATURES.index("agreement")] > 0.5
    gains = np.zeros((n_users, 2))
    gains[:, 1] = np.where(helps, 0.3, -0.3) + rng.normal(0.0, 0.1, n_users)
    return features, gains


def test_the_gate_gives_the_weight_to_the_users_whose_feature_says_it_gains():
    features, gains = gains_by_feature()
    gate = fit_gate(features, gains, penalty=0.01)

    chosen = gate_choice(features, gate)

    helps = features[:, GATE_FEATURES.index("agreement")] > 0.5
    assert (chosen == helps).mean() > 0.9


def test_a_strong_penalty_leaves_only_the_mean_gain():
    features, gains = gains_by_feature()
    gains[:, 1] += 0.05  # weight 1 gains a little on average

    chosen = gate_choice(features, fit_gate(features, gains, penalty=1e6))

    assert (chosen == 1).all()


def test_cross_fitted_choices_come_from_a_gate_fitted_without_the_users_group():
    features, gains = gains_by_feature()
    groups = np.arange(len(features)) % 3

    chosen = cross_fitted_choice(features, gains, groups, penalty=0.01)

    for group in range(3):
        held = groups == group
        gate = fit_gate(features[~held], gains[~held], penalty=0.01)
        np.testing.assert_array_equal(chosen[held], gate_choice(features[held], gate))


def test_features_count_the_collaborative_top_items_the_voters_have():
    base = np.array([[3.0, 2.0, 1.0, 0.0], [-np.inf, 2.0, 1.0, 0.0]])
    votes = np.array([[1.0, 0.0, 0.0, 2.0], [5.0, 1.0, 0.0, 0.0]])

    features = gate_features(
        base,
        votes,
        followed=np.array([1, 3]),
        history=np.array([0, 3]),
        cold_items=2,
        agreed=np.array([0.0, 1.0]),
        idle_days=np.array([np.nan, 9.0]),
        k=2,
    )

    column = {name: features[:, i] for i, name in enumerate(GATE_FEATURES)}
    np.testing.assert_allclose(column["overlap"], [0.5, 0.5])  # own item 0 left out
    np.testing.assert_allclose(column["voted"], np.log1p([2, 1]))
    np.testing.assert_allclose(column["idle"], np.log1p([0.0, 9.0]))
    np.testing.assert_allclose(column["followed"], np.log1p([1, 3]))
    np.testing.assert_allclose(column["cold"], [1.0, 0.0])


def always_mix_gate(grid: tuple[float, ...]) -> np.ndarray:
    """A gate whose predictions favour the last weight of ``grid`` for everyone."""
    gate = np.zeros((len(GATE_FEATURES) + 1, len(grid)))
    gate[0, -1] = 1.0  # intercept: the last weight gains
    return gate


def test_a_user_without_relations_gets_exactly_the_base_scores_under_a_gate():
    rng = np.random.default_rng(3)
    dense = (rng.random((40, 25)) < 0.2).astype(np.float32)
    dense[5, 10:16] = 1.0
    interactions = sp.csr_matrix(dense)
    social = follows(40, [(0, 5)])
    model = SocialBlendRecommender(
        collaborative=("ease", {"l2": 10.0}), alone=None, weight=1.0
    ).fit(interactions, social=social)
    ease = EASERecommender(l2=10.0).fit(interactions)
    model.gate_ = always_mix_gate((0.0, 2.0))
    model.gate_weights_ = np.array([0.0, 2.0], np.float32)
    model.weight_ = model.cold_weight_ = model.agreed_weight_ = 0.0  # the gate decides

    users = np.array([0, 1])
    scores = model._score_users(users)

    np.testing.assert_array_equal(scores[1], ease._score_users(users)[1])
    assert not np.allclose(scores[0], ease._score_users(users)[0])


def test_the_gate_is_kept_where_on_the_folds_friends_predict_better_for_some_users():
    # Validation NDCG of weights (0, 2) for 300 users in 3 folds: weight 2 helps the
    # users whose agreement is above 0.5 and hurts the others, so no one weight for all
    # does as well as a gate.
    features, gains = gains_by_feature(n_users=300, seed=1)
    quality = 0.2 + np.stack([np.zeros(300), gains[:, 1]])
    one_weight = quality[0]  # the segment weight: 0 for everyone
    model = SocialBlendRecommender(grid=(0.0, 2.0), gate_penalty=0.01)

    model._learn_gate(quality, one_weight, features, np.arange(300) % 3, [0.0, 2.0])

    assert model.gate_ is not None
    assert model.gate_validation_ndcg_ > one_weight.mean()
    helps = features[:, GATE_FEATURES.index("agreement")] > 0.5
    chosen = model.gate_weights_[gate_choice(features, model.gate_)]
    assert chosen[helps].mean() > 1.5 and chosen[~helps].mean() < 0.5


def test_a_gate_no_better_than_the_segment_weights_is_refused():
    features, _ = gains_by_feature(n_users=300, seed=2)
    rng = np.random.default_rng(2)
    quality = np.stack([0.2 + rng.normal(0.0, 0.05, 300), 0.2 + rng.normal(0.0, 0.05, 300)])
    model = SocialBlendRecommender(grid=(0.0, 2.0), confidence=0.9)

    model._learn_gate(quality, quality.max(axis=0), features, np.arange(300) % 3, [0.0, 2.0])

    assert model.gate_ is None


def test_a_fit_with_the_gate_measures_it_and_its_gate_survives_save_and_load():
    interactions, stamps, social = group_data()
    model = SocialBlendRecommender(
        collaborative=("item_knn", {}), min_validation_users=5, gate=True, validation_folds=2
    ).fit(interactions, timestamps=stamps, social=social)
    assert 0 < model.gate_validation_ndcg_ <= 1
    grid = tuple(float(w) for w in model.grid)
    model.gate_, model.gate_weights_ = always_mix_gate(grid), np.array(grid, np.float32)

    loaded = load(model.to_bytes())

    np.testing.assert_array_equal(loaded.gate_, model.gate_)
    users = np.arange(interactions.shape[0])
    np.testing.assert_array_equal(
        loaded.recommend_batch(users, 10)[0], model.recommend_batch(users, 10)[0]
    )


def test_a_folded_in_row_gets_the_same_gated_scores_as_the_known_user():
    rng = np.random.default_rng(8)
    dense = (rng.random((40, 25)) < 0.2).astype(np.float32)
    interactions = sp.csr_matrix(dense)
    social = follows(40, [(0, 5), (0, 6), (1, 5)])
    model = SocialBlendRecommender(collaborative=("ease", {"l2": 10.0}), weight=1.0).fit(
        interactions, social=social
    )
    gate = np.zeros((len(GATE_FEATURES) + 1, 2))
    gate[1 + GATE_FEATURES.index("followed"), 1] = 1.0  # more people followed, more weight
    gate[0, 1] = -0.5 * np.log1p(2.0) - 0.5 * np.log1p(1.0)  # 2 followed: yes; 1: no
    model.gate_, model.gate_weights_ = gate, np.array([0.0, 3.0], np.float32)

    known = model._score_users(np.array([0, 1]))
    folded = model._score_social_rows(interactions[[0, 1]], None, social[[0, 1]])

    np.testing.assert_allclose(folded, known, rtol=1e-6)
    ease = EASERecommender(l2=10.0).fit(interactions)
    np.testing.assert_array_equal(known[1], ease._score_users(np.array([1]))[0])
    assert not np.allclose(known[0], ease._score_users(np.array([0]))[0])


# Wide rows and a short top take the blocks' path; the others sort whole rows.
@pytest.mark.parametrize(
    ("n_columns", "k"), [(400, 1), (400, 5), (400, 40), (400, 500), (3000, 20), (3000, 100)]
)
def test_top_rows_are_each_rows_best_columns_best_first(n_columns, k):
    rng = np.random.default_rng(k)
    scores = rng.normal(size=(30, n_columns)).astype(np.float32)
    scores[3, 10:] = -np.inf  # fewer finite entries than k in some cases
    scores[4] = 0.0  # all tied
    scores[5] = rng.integers(0, 3, size=n_columns)  # many ties at every value
    scores[6] = np.where(rng.random(n_columns) < 0.97, 0.0, 1.0)  # a few above a tied mass
    scores[7, ::3] = -np.inf
    scores[8, 50:60] = np.inf
    scores[9, -5:] = 9.0  # the best in the last, partly filled block

    top = top_rows(scores, k)

    # Of equal entries, the first columns: what a stable sort of the whole row gives.
    expected = np.argsort(-scores, axis=1, kind="stable")[:, : min(k, n_columns)]
    np.testing.assert_array_equal(top, expected)
    np.testing.assert_array_equal(top_rows(scores.astype(np.float64), k), expected)
    assert top_rows(scores, 0).shape == (30, 0)


def test_top_rows_put_nan_last():
    scores = np.array([[1.0, np.nan, 3.0, 2.0, 2.0], [0.0, 1.0, 0.0, 0.0, 0.0]])

    assert top_rows(scores, 4).tolist() == [[2, 3, 4, 0], [1, 0, 2, 3]]
    wide = np.random.default_rng(0).normal(size=(3, 3000))
    wide[1, 7] = np.nan  # a row wide enough for the blocks

    expected = np.argsort(-wide, axis=1, kind="stable")[:, :20]
    np.testing.assert_array_equal(top_rows(wide, 20), expected)
    assert 7 not in top_rows(wide, 20)[1]


def test_the_entries_of_each_row_are_ranked_best_first():
    rows = np.array([0, 0, 0, 1, 1, 1, 1])
    items = np.array([3, 5, 9, 1, 2, 7, 8])
    values = np.array([0.1, 0.9, 0.5, -np.inf, 0.2, 0.7, 0.3])

    top = top_of_entries(rows, items, values, 2, 2)

    assert top.tolist() == [[5, 9], [7, 8]]


def test_a_row_with_fewer_entries_than_k_is_refused():
    rows, items, values = np.array([0, 0, 1]), np.array([3, 5, 1]), np.array([0.1, 0.9, 0.2])

    with pytest.raises(ValueError, match="k=2"):
        top_of_entries(rows, items, values, 2, 2)
