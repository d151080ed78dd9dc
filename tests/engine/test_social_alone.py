"""The social blend's models for users without votes, chosen per shop, and plain ALS."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine import (
    ALSRecommender,
    EASERecommender,
    SocialBlendRecommender,
    SocialMFRecommender,
    UserKNNRecommender,
    load,
)
from recommendations.engine.social import alone_combinations
from recommendations.engine.socialmf import REGULARIZATION_GRID
from tests.engine.test_social import follows, group_data


def lonely_group_data(followers: int = 40):
    """:func:`group_data` where only the first ``followers`` users follow anyone."""
    interactions, stamps, social = group_data()
    keep = np.arange(social.shape[0])[:, None] < followers
    return interactions, stamps, sp.csr_matrix(social.multiply(keep))


def test_the_default_set_comes_first_and_every_set_once():
    assert alone_combinations(1) == [(0,)]
    assert alone_combinations(3) == [(0, 1), (0,), (1,), (2,), (0, 2), (1, 2), (0, 1, 2)]


def test_users_without_votes_get_the_set_of_models_best_on_held_out_pairs():
    interactions, stamps, social = lonely_group_data()
    model = SocialBlendRecommender(
        collaborative=("popularity", {}), alone=(("user_knn", {}),), weight=1.0
    ).fit(interactions, timestamps=stamps, social=social)
    combinations = alone_combinations(2)  # popularity+user_knn, popularity, user_knn

    quality = model.alone_validation_
    assert quality.shape == (3,)
    # Users buy inside their group: user-kNN finds it, popularity is blind to it and
    # only blurs user-kNN's lists.
    assert combinations[int(np.argmax(quality))] == (1,)
    assert model.alone_choice_ == "user_knn" and not model.alone_collaborative_
    lonely = np.arange(40, interactions.shape[0])
    knn = UserKNNRecommender().fit(interactions, timestamps=stamps)
    np.testing.assert_array_equal(
        model.recommend_batch(lonely, 10)[0], knn.recommend_batch(lonely, 10)[0]
    )
    # The choice survives the artifact.
    loaded = load(model.to_bytes())
    assert loaded.alone_choice_ == model.alone_choice_
    np.testing.assert_array_equal(loaded._score_users(lonely), model._score_users(lonely))


def test_too_few_users_on_their_own_get_the_collaborative_and_the_first_alone_model():
    interactions, stamps, social = lonely_group_data(followers=110)
    model = SocialBlendRecommender(
        collaborative=("ease", {"l2": 10.0}),
        alone=(("user_knn", {}), ("als", {"factors": 4, "iterations": 3})),
        weight=1.0,
    ).fit(interactions, timestamps=stamps, social=social)

    assert model.alone_validation_.size == 0
    assert model.alone_choice_ == "ease+user_knn"


def test_a_model_that_chooses_its_penalty_gets_the_one_best_for_the_fold_users():
    interactions, stamps, social = lonely_group_data()
    model = SocialBlendRecommender(
        collaborative=("popularity", {}),
        alone=(("als", {"factors": 4, "iterations": 3}),),
        weight=1.0,
        min_validation_users=5,
    ).fit(interactions, timestamps=stamps, social=social)

    # Popularity alone is blind to the groups: ALS is in every better set.
    assert model.alone_validation_.shape == (3,)
    assert model.alone_validation_[1] < model.alone_validation_[[0, 2]].min()
    (als,) = model.alone_models_
    assert als.regularization in REGULARIZATION_GRID  # given, not chosen again
    assert als.validation_ndcg_.size == 0


def test_an_artifact_with_one_alone_model_serves_it_with_the_collaborative_model():
    interactions, stamps, social = lonely_group_data()
    model = SocialBlendRecommender(
        collaborative=("item_knn", {}), weight=1.0, min_validation_users=1000
    ).fit(interactions, timestamps=stamps, social=social)
    users = np.arange(interactions.shape[0])
    expected = model._score_users(users)

    (knn,) = model.alone_models_
    model.alone_ = knn  # the state an artifact of before the choice has
    for name in ("alone_models_", "alone_collaborative_", "alone_choice_", "alone_validation_"):
        delattr(model, name)
    old = load(model.to_bytes())

    assert old.alone_choice_ == "item_knn+user_knn" and old.alone_collaborative_
    assert not hasattr(old, "alone_")
    np.testing.assert_array_equal(old._score_users(users), expected)


def test_an_alone_model_must_be_a_non_social_registered_one():
    interactions, stamps, social = lonely_group_data()
    with pytest.raises(ValueError, match="Unknown alone 'social_mf'"):
        SocialBlendRecommender(alone=(("user_knn", {}), ("social_mf", {}))).fit(
            interactions, timestamps=stamps, social=social
        )


def test_als_is_social_mf_without_relations():
    rng = np.random.default_rng(2)
    interactions = sp.csr_matrix(rng.random((60, 30)) < 0.15, dtype=np.float32)
    als = ALSRecommender(factors=6, iterations=4, regularization=10.0).fit(interactions)
    social_mf = SocialMFRecommender(factors=6, iterations=4, regularization=10.0).fit(
        interactions, social=follows(60, [(0, 1), (2, 3)])
    )
    plain = SocialMFRecommender(factors=6, iterations=4, regularization=10.0).fit(interactions)
    users = np.arange(60)

    assert not ALSRecommender.uses_social and "social_regularization" not in als.get_params()
    np.testing.assert_allclose(
        als._score_users(users), plain._score_users(users), rtol=1e-5, atol=1e-6
    )
    assert not np.allclose(als._score_users(users[:4]), social_mf._score_users(users[:4]))


def test_variants_are_the_penalties_a_fit_would_choose_from():
    als = ALSRecommender(factors=4, iterations=3)
    given = ALSRecommender(factors=4, regularization=5.0)

    assert als.variants() == [
        {**als.get_params(), "regularization": r} for r in REGULARIZATION_GRID
    ]
    assert given.variants() == [given.get_params()]
    ease = EASERecommender(l2=5.0)
    assert ease.variants() == [ease.get_params()]  # nothing to choose
