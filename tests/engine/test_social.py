"""The social recommenders: trust propagation, cold start, fold-in, no loss without relations."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine import (
    EASERecommender,
    ItemKNNRecommender,
    Recommender,
    SocialBlendRecommender,
    SocialMFRecommender,
    SocialTrustRecommender,
    UserKNNRecommender,
    load,
    registered,
)
from recommendations.engine import social as social_module
from recommendations.engine import socialmf as socialmf_module
from recommendations.engine.metrics import ndcg_per_user
from recommendations.engine.social import agreement, holdout_pairs, unit_rows


def follows(n_users: int, edges: list[tuple[int, int]]) -> sp.csr_matrix:
    """A users x users matrix with weight 1 on each (follower, followed) edge."""
    rows, cols = zip(*edges, strict=True) if edges else ((), ())
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_users))


def social_and_ease(
    interactions: sp.csr_matrix, social: sp.csr_matrix
) -> tuple[SocialBlendRecommender, EASERecommender]:
    """A social blend over EASE at weight 1, and the same EASE alone, on ``interactions``."""
    model = SocialBlendRecommender(collaborative=("ease", {"l2": 10.0}), weight=1.0).fit(
        interactions, social=social
    )
    return model, EASERecommender(l2=10.0).fit(interactions)


def artifact_without(model, keys: tuple[str, ...]) -> bytes:
    """``model``'s artifact as an older version wrote it: without the state ``keys``."""
    with np.load(io.BytesIO(model.to_bytes()), allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}
    header = json.loads(str(arrays["__header__"]))
    for key in keys:
        header["state"].pop(key)
        arrays.pop(key, None)
    arrays["__header__"] = np.array(json.dumps(header))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def chain_data() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """User 0 follows 1, who follows 2; 1 liked item 0, 2 liked item 1, 3 liked item 2.

    Users 4-9 all liked items 2 and 3, so item 2 is the best seller.
    """
    dense = np.zeros((10, 6), dtype=np.float32)
    dense[1, 0] = dense[2, 1] = dense[3, 2] = 1.0
    dense[4:, [2, 3]] = 1.0
    return sp.csr_matrix(dense), follows(10, [(0, 1), (1, 2)])


def test_trust_propagates_two_hops_at_the_decayed_weight():
    interactions, social = chain_data()
    model = SocialTrustRecommender(hops=2, decay=0.1).fit(interactions, social=social)

    votes = model._user_votes(np.array([0]))[0]

    np.testing.assert_allclose(votes[:2], [1.0, 0.1], rtol=1e-6)
    assert votes[2:].sum() == 0.0
    items, _ = model.recommend(0, 3)
    assert items.tolist() == [0, 1, 2]  # the friend's, the friend's friend's, the best seller


def test_one_hop_ignores_the_friends_of_friends():
    interactions, social = chain_data()
    model = SocialTrustRecommender(hops=1).fit(interactions, social=social)

    votes = model._user_votes(np.array([0]))[0]

    assert votes[0] == pytest.approx(1.0) and votes[1] == 0.0


def test_a_user_is_never_their_own_voter_through_a_mutual_friend():
    interactions, _ = chain_data()
    social = follows(10, [(1, 2), (2, 1)])
    model = SocialTrustRecommender(hops=2, decay=0.5).fit(interactions, social=social)

    votes = model._user_votes(np.array([1]))[0]

    assert votes[0] == 0.0  # user 1's own item does not come back through user 2
    assert votes[1] == pytest.approx(1.0)


def test_a_voter_with_the_same_taste_counts_more():
    dense = np.zeros((4, 5), dtype=np.float32)
    dense[0, [0, 1]] = 1.0
    dense[1, [0, 1, 2]] = 1.0  # shares the follower's taste, liked item 2
    dense[2, [3, 4]] = 1.0  # another taste, liked item 4 ... and item 3
    social = follows(4, [(0, 1), (0, 2)])
    model = SocialTrustRecommender(taste_smoothing=0.1).fit(sp.csr_matrix(dense), social=social)

    votes = model._user_votes(np.array([0]))[0]

    assert votes[2] > 5 * votes[4] > 0


def test_a_user_with_friends_but_no_history_gets_a_personal_list():
    interactions, social = chain_data()
    model = SocialBlendRecommender(collaborative=("item_knn", {}), weight=1.0).fit(
        interactions, social=social
    )
    knn = ItemKNNRecommender().fit(interactions)

    items, _ = model.recommend(0, 2)

    assert interactions[0].nnz == 0
    assert items.tolist() == [0, 1]
    # Alone, the collaborative model has nothing to go on for this user.
    assert not np.any(knn._score_users(np.array([0])))


def alone_scores(model: SocialBlendRecommender, users: np.ndarray) -> np.ndarray:
    """What a user without votes gets: the sum of the chosen models' unit-scaled scores
    (the collaborative model's own when it was chosen alone)."""
    if not model.alone_models_:
        return model.collaborative_._score_users(users)
    models = [model.collaborative_] if model.alone_collaborative_ else []
    models += model.alone_models_
    return np.sum([unit_rows(m._score_users(users)) for m in models], axis=0)


def test_users_without_relations_get_exactly_the_collaborative_scores_without_alone():
    rng = np.random.default_rng(3)
    interactions = sp.csr_matrix(rng.random((40, 25)) < 0.2, dtype=np.float32)
    social = follows(40, [(0, 1), (0, 2), (3, 4)])
    model = SocialBlendRecommender(
        collaborative=("ease", {"l2": 10.0}), alone=None, weight=2.0
    ).fit(interactions, social=social)
    ease = EASERecommender(l2=10.0).fit(interactions)
    alone = np.arange(5, 40)

    assert model.alone_models_ == [] and model.alone_choice_ == "ease"
    np.testing.assert_array_equal(model._score_users(alone), ease._score_users(alone))
    np.testing.assert_array_equal(
        model.recommend_batch(alone, 10)[0], ease.recommend_batch(alone, 10)[0]
    )
    # ... while a user with relations is scored differently.
    assert not np.allclose(model._score_users(np.array([0])), ease._score_users(np.array([0])))


def test_users_without_relations_get_the_collaborative_and_alone_models_summed():
    rng = np.random.default_rng(3)
    interactions = sp.csr_matrix(rng.random((40, 25)) < 0.2, dtype=np.float32)
    social = follows(40, [(0, 1), (0, 2), (3, 4)])
    model = SocialBlendRecommender(
        collaborative=("ease", {"l2": 10.0}),
        alone=("user_knn", {}),
        weight=2.0,
        min_validation_users=1000,
    ).fit(interactions, social=social)
    alone, friends = np.arange(5, 40), np.array([0])

    # Too few users to compare: the collaborative model and the first alone model.
    assert model.alone_validation_.size == 0 and model.alone_choice_ == "ease+user_knn"
    (knn,) = model.alone_models_
    assert isinstance(knn, UserKNNRecommender)
    np.testing.assert_allclose(model._score_users(alone), alone_scores(model, alone), atol=1e-6)
    # A history given as rows, with no relations, is scored the same way from its rows.
    rows = interactions[alone]
    summed = unit_rows(model.collaborative_._score_rows(rows, None)) + unit_rows(
        knn._score_rows(rows, None)
    )
    np.testing.assert_allclose(model._score_rows(rows, None), summed, atol=1e-6)
    # A user with votes keeps the collaborative model as the base of the mix.
    without = SocialBlendRecommender(
        collaborative=("ease", {"l2": 10.0}), alone=None, weight=2.0
    ).fit(interactions, social=social)
    np.testing.assert_array_equal(model._score_users(friends), without._score_users(friends))


def test_the_alone_model_survives_save_and_load_and_an_old_artifact_serves_without_it():
    interactions, stamps, social = group_data()
    social = sp.csr_matrix(social.multiply(np.arange(social.shape[0])[:, None] >= 20))
    model = SocialBlendRecommender(
        collaborative=("item_knn", {}), weight=1.5, min_validation_users=1000
    ).fit(interactions, timestamps=stamps, social=social)
    users = np.arange(interactions.shape[0])

    assert model.alone_choice_ == "item_knn+user_knn"
    loaded = load(model.to_bytes())
    np.testing.assert_array_equal(loaded._score_users(users), model._score_users(users))

    for name in ("alone_models_", "alone_collaborative_", "alone_choice_", "alone_validation_"):
        delattr(model, name)  # as an artifact of before the alone models
    old = load(model.to_bytes())
    without = SocialBlendRecommender(collaborative=("item_knn", {}), alone=None, weight=1.5)
    without.fit(interactions, timestamps=stamps, social=social)
    assert old.alone_models_ == [] and old.alone_choice_ == "item_knn"
    np.testing.assert_array_equal(old._score_users(users), without._score_users(users))
    assert not np.array_equal(loaded._score_users(users), without._score_users(users))


def test_without_a_social_matrix_the_blend_is_its_collaborative_model():
    interactions, _ = chain_data()
    model = SocialBlendRecommender(collaborative=("item_knn", {}), alone=None).fit(interactions)
    knn = ItemKNNRecommender().fit(interactions)

    assert model.weight_ == 0.0 and "no social relations" in model.fallback_
    users = np.arange(10)
    np.testing.assert_array_equal(model._score_users(users), knn._score_users(users))


def test_fold_in_scores_a_user_who_followed_someone_after_training():
    interactions, social = chain_data()
    model = SocialBlendRecommender(collaborative=("item_knn", {}), weight=1.0).fit(
        interactions, social=social
    )
    history = np.zeros(6, dtype=np.float32)
    follows_now = np.zeros(10, dtype=np.float32)
    follows_now[3] = 1.0  # user 3 liked item 2 only

    without, _ = model.recommend_interactions(history, 1)
    items, _ = model.recommend_interactions(history, 1, social_row=follows_now)
    sparse_items, _ = model.recommend_interactions(
        history, 1, social_row=sp.csr_matrix(follows_now)
    )

    assert items.tolist() == sparse_items.tolist() == [2]
    knn = ItemKNNRecommender().fit(interactions)
    assert without.tolist() == knn.recommend_interactions(history, 1)[0].tolist() != [2]


def test_fold_in_of_a_known_users_row_matches_their_training_scores():
    interactions, social = chain_data()
    model = SocialTrustRecommender().fit(interactions, social=social)

    folded = model.recommend_interactions(interactions[0], 4, social_row=social[0])

    np.testing.assert_array_equal(folded[0], model.recommend(0, 4)[0])


def test_a_social_row_of_the_wrong_length_raises_value_error():
    interactions, social = chain_data()
    model = SocialTrustRecommender().fit(interactions, social=social)

    with pytest.raises(ValueError, match="social_row"):
        model.recommend_interactions(np.zeros(6), 3, social_row=np.ones(11))
    with pytest.raises(ValueError, match="social_row"):
        model.recommend_interactions(np.zeros(6), 3, social_row=-np.ones(10))


def test_models_without_a_social_part_ignore_the_social_row():
    interactions, social = chain_data()
    knn = ItemKNNRecommender().fit(interactions, social=social)
    history = np.zeros(6, dtype=np.float32)
    history[2] = 1.0

    np.testing.assert_array_equal(
        knn.recommend_interactions(history, 3, social_row=np.ones(10))[0],
        knn.recommend_interactions(history, 3)[0],
    )


@pytest.mark.parametrize(
    "social",
    [sp.csr_matrix((10, 9)), sp.csr_matrix(-np.eye(10)), np.full((10, 10), np.nan)],
    ids=["not-square", "negative", "nan"],
)
def test_a_bad_social_matrix_raises_value_error(social):
    interactions, _ = chain_data()
    with pytest.raises(ValueError, match="social"):
        SocialBlendRecommender(weight=1.0).fit(interactions, social=social)


def test_following_oneself_is_dropped():
    interactions, _ = chain_data()
    social = follows(10, [(0, 0), (0, 1)])
    model = SocialTrustRecommender().fit(interactions, social=social)

    assert model.social_[0, 0] == 0.0 and model.social_.nnz == 1


def group_data(n_per_group: int = 30) -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """Users who like what the people they follow like: friends predict the held-out item."""
    rng = np.random.default_rng(5)
    n_users, n_items = 4 * n_per_group, 40
    group = np.arange(n_users) % 4
    dense = (rng.random((n_users, n_items)) < 0.08).astype(np.float32)
    stamps = np.where(dense > 0, 1.7e9 + rng.uniform(0, 1e6, dense.shape), 0.0)
    edges = []
    for user in range(n_users):
        friends = rng.choice(np.flatnonzero(group == group[user]), size=4, replace=False)
        edges += [(user, int(f)) for f in friends if f != user]
        # Every group's own items, liked last by most of its members.
        own = 10 * group[user] + rng.choice(10, size=3, replace=False)
        dense[user, own] = 1.0
        stamps[user, own] = 1.7e9 + 2e6 + rng.uniform(0, 1e5, 3)
    return sp.csr_matrix(dense), sp.csr_matrix(stamps), follows(n_users, edges)


def test_the_weight_is_learned_on_held_out_pairs_where_friends_predict_them():
    interactions, stamps, social = group_data()
    model = SocialBlendRecommender(collaborative=("item_knn", {}), min_validation_users=5).fit(
        interactions, timestamps=stamps, social=social
    )

    assert model.fallback_ is None
    assert model.weight_ > 0
    assert 0 < model.validation_ndcg_ <= 1


def test_too_few_validation_users_fall_back_to_the_default_weight():
    interactions, stamps, social = group_data()
    model = SocialBlendRecommender(
        collaborative=("item_knn", {}), min_validation_users=10_000, default_weight=0.75
    ).fit(interactions, timestamps=stamps, social=social)

    assert model.weight_ == 0.75
    assert "min_validation_users" in model.fallback_


def test_the_learned_state_survives_save_and_load():
    interactions, stamps, social = group_data()
    model = SocialBlendRecommender(collaborative=("item_knn", {}), weight=1.5).fit(
        interactions, timestamps=stamps, social=social
    )

    loaded = load(model.to_bytes())

    assert loaded.weight_ == 1.5
    assert (loaded.social_ != model.social_).nnz == 0
    users = np.arange(interactions.shape[0])
    np.testing.assert_array_equal(
        loaded.recommend_batch(users, 10)[0], model.recommend_batch(users, 10)[0]
    )


@pytest.mark.parametrize("model_name", ["social_blend", "social_rerank"])
def test_a_catalog_too_large_for_ease_gets_the_large_catalog_model(model_name):
    interactions, stamps, social = group_data()
    klass = registered()[model_name]
    large = social_module.LARGE_CATALOG_COLLABORATIVE
    refusing = klass(collaborative=("ease", {"max_items": 10}), min_validation_users=5)
    fallback = klass(collaborative=large, min_validation_users=5)
    refusing.fit(interactions, timestamps=stamps, social=social)
    fallback.fit(interactions, timestamps=stamps, social=social)

    assert refusing.collaborative_.name == large[0]
    assert "ease refused the catalog" in refusing.fallback_
    assert fallback.fallback_ is None
    assert refusing.weight_ == fallback.weight_
    users = np.arange(interactions.shape[0])
    np.testing.assert_array_equal(
        refusing.recommend_batch(users, 10)[0], fallback.recommend_batch(users, 10)[0]
    )


def test_a_social_model_as_collaborative_part_is_refused():
    interactions, _ = chain_data()
    with pytest.raises(ValueError, match="collaborative"):
        SocialBlendRecommender(collaborative=("social_trust", {})).fit(interactions)


def test_cold_users_are_mixed_at_their_own_weight():
    rng = np.random.default_rng(4)
    dense = (rng.random((40, 25)) < 0.2).astype(np.float32)
    dense[0] = 0.0
    dense[0, 3] = 1.0  # a cold user ...
    dense[1, :6] = 1.0  # ... and a warm one, both following user 5
    dense[5, 10:16] = 1.0
    interactions = sp.csr_matrix(dense)
    model, ease = social_and_ease(interactions, follows(40, [(0, 5), (1, 5)]))
    model.cold_weight_ = 0.0

    users = np.array([0, 1])
    scores = model._score_users(users)

    np.testing.assert_array_equal(scores[0], ease._score_users(users)[0])
    assert not np.allclose(scores[1], ease._score_users(users)[1])


def test_the_cold_weight_is_learned_apart_from_the_warm_one():
    interactions, stamps, social = group_data()
    model = SocialBlendRecommender(
        collaborative=("item_knn", {}), min_validation_users=5, cold_items=3
    ).fit(interactions, timestamps=stamps, social=social)

    assert model.validation_curve_.shape == (len(model.grid), 3)
    assert model.weight_ in model.grid and model.cold_weight_ in model.grid
    warm_best = np.nanargmax(model.validation_curve_[:, 0])
    assert model.weight_ == model.grid[warm_best]


def test_agreement_is_the_share_of_a_users_items_their_voters_have():
    votes = np.array([[1.0, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]])
    history = sp.csr_matrix(np.array([[1, 1, 1, 1], [1, 0, 0, 0], [0, 0, 0, 0]], np.float32))

    np.testing.assert_allclose(agreement(votes, history), [0.5, 0.0, 0.0])


def test_warm_users_whose_friends_shared_their_past_get_the_agreed_weight():
    rng = np.random.default_rng(6)
    dense = (rng.random((40, 25)) < 0.2).astype(np.float32)
    dense[:3] = 0.0
    dense[0, :4] = dense[1, 4:8] = 1.0  # two warm users who both follow user 2 ...
    dense[2, [0, 1, 2, 3, 12, 13]] = 1.0  # ... who shares all of user 0's past, none of 1's
    interactions = sp.csr_matrix(dense)
    model, ease = social_and_ease(interactions, follows(40, [(0, 2), (1, 2)]))
    model.weight_, model.agreed_weight_, model.agreement_threshold_ = 0.0, 1.0, 0.5

    users = np.array([0, 1])
    scores = model._score_users(users)

    np.testing.assert_array_equal(scores[1], ease._score_users(users)[1])
    assert not np.allclose(scores[0], ease._score_users(users)[0])


def test_one_warm_weight_is_kept_unless_two_clearly_beat_it():
    interactions, stamps, social = group_data()
    few = SocialBlendRecommender(collaborative=("item_knn", {}), min_validation_users=10_000)
    many = SocialBlendRecommender(collaborative=("item_knn", {}), min_validation_users=5)

    few.fit(interactions, timestamps=stamps, social=social)
    many.fit(interactions, timestamps=stamps, social=social)

    assert few.agreement_threshold_ == float("inf") and few.agreed_weight_ == few.weight_
    assert many.validation_curve_.shape == (len(many.grid), 3)
    if np.isinf(many.agreement_threshold_):
        assert many.agreed_weight_ == many.weight_
        assert np.isnan(many.validation_curve_[:, 2]).all()
    else:
        assert many.agreed_weight_ in many.grid


def test_a_lead_counts_only_when_the_bootstrap_says_it_is_clear():
    rng = np.random.default_rng(8)
    old = rng.random(400)
    careful = SocialBlendRecommender(confidence=0.9)
    eager = SocialBlendRecommender(confidence=None)

    assert careful._clearly_better(old + 0.05, old)
    noisy = old + rng.normal(0.001, 0.2, old.size)
    assert not careful._clearly_better(noisy, old)
    assert eager._clearly_better(old + 1e-6, old) and not eager._clearly_better(old, old)


DAY = 86_400.0


def recency_data() -> tuple[sp.csr_matrix, sp.csr_matrix, sp.csr_matrix]:
    """User 0 (last active on day 1000) follows 1 and 2; 1 liked item 1 on day 100, 2
    liked item 2 on day 995; users 3-8 liked item 3, the best seller."""
    dense = np.zeros((9, 5), dtype=np.float32)
    days = np.zeros((9, 5))
    dense[0, 0], days[0, 0] = 1.0, 1000
    dense[1, 1], days[1, 1] = 1.0, 100
    dense[2, 2], days[2, 2] = 1.0, 995
    dense[3:, 3], days[3:, 3] = 1.0, 500
    return sp.csr_matrix(dense), sp.csr_matrix(days * DAY), follows(9, [(0, 1), (0, 2)])


def test_recent_votes_count_friends_items_from_the_users_active_period_more():
    interactions, stamps, social = recency_data()
    plain = SocialBlendRecommender(collaborative=("item_knn", {}), weight=1.0)
    recent = SocialBlendRecommender(
        collaborative=("item_knn", {}), weight=1.0, recency_grid=(30.0,)
    )
    plain.fit(interactions, timestamps=stamps, social=social)
    recent.fit(interactions, timestamps=stamps, social=social)

    plain_votes = plain._user_votes(np.array([0]))[0]
    scores = recent._score_users(np.array([0]))[0]

    assert plain_votes[1] == pytest.approx(plain_votes[2])
    assert recent.recency_days_ == 30.0
    assert scores[2] > scores[1]
    items, _ = recent.recommend(0, 1)
    assert items.tolist() == [2]  # without recency the tie would go to item 1


def test_recent_votes_are_the_same_whatever_the_block_size(monkeypatch):
    rng = np.random.default_rng(8)
    voters = sp.random(40, 60, density=0.1, format="csr", random_state=1, dtype=np.float32)
    times = sp.random(60, 25, density=0.2, format="csr", random_state=2)
    times.data = rng.uniform(0, 1000 * DAY, times.nnz)
    times.data[::5] = np.nan  # unknown times count fully
    reference = rng.uniform(0, 1000 * DAY, 40)
    expected = np.zeros((40, 25))
    for row, voter in zip(*voters.nonzero(), strict=True):
        for item, stamp in zip(times[voter].indices, times[voter].data, strict=True):
            kernel = np.exp(-abs(stamp - reference[row]) / (30 * DAY)) if np.isfinite(stamp) else 1
            expected[row, item] += voters[row, voter] * kernel

    whole = social_module.recent_votes(voters, times, reference, 30 * DAY)
    monkeypatch.setattr(social_module, "RECENT_VOTES_BLOCK", 3)
    blocked = social_module.recent_votes(voters, times, reference, 30 * DAY)

    np.testing.assert_allclose(whole, expected, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(blocked, whole)


def test_a_folded_in_user_is_judged_at_the_end_of_training():
    interactions, stamps, social = recency_data()
    model = SocialBlendRecommender(
        collaborative=("item_knn", {}), weight=1.0, recency_grid=(30.0,)
    ).fit(interactions, timestamps=stamps, social=social)
    follows_now = np.zeros(interactions.shape[0], dtype=np.float32)
    follows_now[[1, 2]] = 1.0

    items, _ = model.recommend_interactions(np.zeros(5), 1, social_row=follows_now)

    assert model.now_ == pytest.approx(1000 * DAY)
    assert items.tolist() == [2]  # day 995 is near the end of training, day 100 is not


def test_without_timestamps_the_votes_count_fully():
    interactions, _, social = recency_data()
    model = SocialBlendRecommender(
        collaborative=("item_knn", {}), weight=1.0, recency_grid=(30.0,)
    ).fit(interactions, social=social)

    assert model.recency_days_ is None and model.times_ is None


def test_the_validation_chooses_a_time_scale_of_its_grid():
    interactions, stamps, social = group_data()
    model = SocialBlendRecommender(
        collaborative=("item_knn", {}),
        min_validation_users=5,
        recency_grid=(None, 1.0, 30.0),
        validation_folds=2,
    ).fit(interactions, timestamps=stamps, social=social)

    assert model.fallback_ is None
    assert model.recency_days_ in (None, 1.0, 30.0)
    assert (model.times_ is None) == (model.recency_days_ is None)


def test_the_recency_survives_save_and_load():
    interactions, stamps, social = recency_data()
    model = SocialBlendRecommender(
        collaborative=("item_knn", {}), weight=1.0, recency_grid=(30.0,)
    ).fit(interactions, timestamps=stamps, social=social)

    loaded = load(model.to_bytes())

    assert loaded.recency_days_ == 30.0 and loaded.now_ == model.now_
    users = np.arange(interactions.shape[0])
    np.testing.assert_array_equal(loaded._score_users(users), model._score_users(users))


def test_unit_rows_put_the_median_at_zero_and_the_best_at_one():
    rows = np.array([[0.0, 0.0, 0.0, 2.0, 1.0], [5.0, 1.0, 3.0, -np.inf, 3.0]], np.float32)

    scaled = unit_rows(rows)

    np.testing.assert_allclose(scaled[0], [0.0, 0.0, 0.0, 1.0, 0.5], atol=1e-6)
    assert scaled[1, 0] == pytest.approx(1.0) and scaled[1, 2] == pytest.approx(0.0)
    assert np.all(np.isfinite(scaled))


def test_a_per_user_holdout_takes_each_users_newest_pairs_and_trains_on_older_ones():
    dense = np.zeros((3, 6), dtype=np.float32)
    dense[0, :5] = 1.0
    dense[1, :2] = 1.0
    dense[2, 0] = 1.0  # one pair: nothing held out
    interactions = sp.csr_matrix(dense)
    times = np.array([5, 4, 3, 2, 1, 7, 9, 8], dtype=np.float64)

    held, older = holdout_pairs(interactions, times, fraction=0.2, per_user=True)
    held_1, older_1 = holdout_pairs(interactions, times, fraction=0.2, per_user=True, fold=1)

    assert held.tolist() == [True, False, False, False, False, False, True, False]
    assert older.tolist() == [False, True, True, True, True, True, False, True]
    # The fold before: each user's second newest, trained on what came before it.
    assert held_1.tolist() == [False, True, False, False, False, True, False, False]
    assert older_1.tolist() == [False, False, True, True, True, False, False, True]


def test_a_time_holdout_fold_trains_only_on_pairs_older_than_it_holds_out():
    interactions = sp.csr_matrix(np.ones((2, 5), dtype=np.float32))
    times = np.arange(10, dtype=np.float64)

    held, older = holdout_pairs(interactions, times, fraction=0.2, per_user=False, fold=1)

    assert times[held].tolist() == [6.0, 7.0]
    assert times[older].max() < times[held].min()
    assert not (held & older).any()


@pytest.mark.parametrize("model_name", ["social_blend", "social_mf"])
def test_a_cold_user_with_friends_gets_the_friends_items(model_name):
    interactions, _, social = group_data()
    # User 2 (group 2) has no history of their own; they follow members of group 2.
    interactions = interactions.tolil()
    interactions[2] = 0.0
    interactions = sp.csr_matrix(interactions)
    interactions.eliminate_zeros()
    model = (
        SocialMFRecommender(factors=8, iterations=8)
        if model_name == "social_mf"
        else SocialBlendRecommender(collaborative=("item_knn", {}), weight=1.0)
    ).fit(interactions, social=social)

    items, _ = model.recommend(2, 5)

    assert interactions[2].nnz == 0
    assert np.mean((items >= 20) & (items < 30)) >= 0.8  # group 2's own items


def test_social_mf_folds_in_a_new_follow():
    interactions, _, social = group_data()
    model = SocialMFRecommender(factors=8, iterations=8).fit(interactions, social=social)
    history = np.zeros(interactions.shape[1], dtype=np.float32)
    follows_now = np.zeros(interactions.shape[0], dtype=np.float32)
    follows_now[np.arange(interactions.shape[0]) % 4 == 2] = 1.0  # the whole group 2

    without, _ = model.recommend_interactions(history, 5)
    items, _ = model.recommend_interactions(history, 5, social_row=follows_now)

    assert np.mean((items >= 20) & (items < 30)) >= 0.8
    assert items.tolist() != without.tolist()


def test_social_mf_without_follows_is_plain_implicit_als():
    interactions, _, social = group_data()
    alone = SocialMFRecommender(factors=8, iterations=4).fit(interactions)
    no_pull = SocialMFRecommender(factors=8, iterations=4, social_regularization=0.0).fit(
        interactions, social=social
    )
    users = np.arange(interactions.shape[0])

    np.testing.assert_allclose(
        alone._score_users(users), no_pull._score_users(users), rtol=1e-4, atol=1e-6
    )


def test_social_mf_pulls_a_user_towards_the_people_they_follow():
    interactions, _, social = group_data()
    plain = SocialMFRecommender(factors=8, iterations=8, social_regularization=0.0)
    pulled = SocialMFRecommender(factors=8, iterations=8, social_regularization=50.0)
    plain.fit(interactions, social=social)
    pulled.fit(interactions, social=social)

    def distance(model: SocialMFRecommender) -> float:
        friends = model.social_ @ model.user_factors_
        gap = np.linalg.norm(model.user_factors_ - friends, axis=1)
        return float(gap.mean() / np.linalg.norm(model.user_factors_, axis=1).mean())

    assert distance(pulled) < 0.8 * distance(plain)


def test_social_mf_chooses_its_penalty_on_held_out_pairs():
    interactions, stamps, social = group_data()
    model = SocialMFRecommender(factors=8, iterations=4).fit(
        interactions, timestamps=stamps, social=social
    )
    tried = model.validation_ndcg_

    assert tried[:, 0].tolist() == list(socialmf_module.REGULARIZATION_GRID)
    assert np.all((tried[:, 1] > 0) & (tried[:, 1] <= 1))
    assert model.regularization_ == tried[np.argmax(tried[:, 1]), 0]
    fixed = SocialMFRecommender(factors=8, iterations=4, regularization=model.regularization_).fit(
        interactions, timestamps=stamps, social=social
    )
    np.testing.assert_allclose(fixed.user_factors_, model.user_factors_, rtol=1e-5, atol=1e-6)
    assert fixed.validation_ndcg_.shape == (0, 2)


def test_social_mf_holds_out_each_users_newest_pairs_to_choose(monkeypatch):
    interactions, stamps, social = group_data()
    fitted_on: list[sp.csr_matrix] = []
    original = SocialMFRecommender._factorise

    def recording(self, matrix, regularization):
        fitted_on.append(matrix)
        return original(self, matrix, regularization)

    monkeypatch.setattr(SocialMFRecommender, "_factorise", recording)
    SocialMFRecommender(factors=4, iterations=2).fit(
        interactions, timestamps=stamps, social=social
    )

    *validation, final = fitted_on
    assert len(validation) == len(socialmf_module.REGULARIZATION_GRID)
    assert (final != interactions).nnz == 0
    # Each user with >= 2 pairs loses their newest 10% (rounded up), and only those.
    times = sp.csr_matrix(stamps)
    counts = np.diff(interactions.indptr)
    kept = validation[0]
    for user in range(interactions.shape[0]):
        held = np.setdiff1d(interactions[user].indices, kept[user].indices)
        assert held.size == (np.ceil(0.1 * counts[user]) if counts[user] >= 2 else 0)
        if held.size:
            held_times = times[user, held].toarray().ravel()
            kept_times = times[user, kept[user].indices].toarray().ravel()
            assert held_times.min() >= kept_times.max()


def test_social_mf_with_too_few_validation_users_takes_the_default_penalty(monkeypatch):
    interactions, stamps, social = group_data()
    monkeypatch.setattr(socialmf_module, "MIN_VALIDATION_USERS", 10_000)
    model = SocialMFRecommender(factors=4, iterations=2).fit(
        interactions, timestamps=stamps, social=social
    )

    assert model.regularization_ == socialmf_module.DEFAULT_REGULARIZATION
    assert model.validation_ndcg_.shape == (0, 2)


def test_social_mf_folds_in_with_its_chosen_penalty_after_save_and_load():
    interactions, stamps, social = group_data()
    model = SocialMFRecommender(factors=8, iterations=4).fit(
        interactions, timestamps=stamps, social=social
    )
    history = interactions[3].toarray().ravel()
    row = social[3].toarray().ravel()

    loaded = load(model.to_bytes())

    assert loaded.regularization_ == model.regularization_
    np.testing.assert_array_equal(loaded.validation_ndcg_, model.validation_ndcg_)
    np.testing.assert_array_equal(
        loaded.recommend_interactions(history, 10, social_row=row)[0],
        model.recommend_interactions(history, 10, social_row=row)[0],
    )


def test_an_artifact_of_social_mf_before_the_choice_folds_in_with_its_penalty():
    interactions, _, social = group_data()
    model = SocialMFRecommender(factors=8, iterations=4, regularization=3.0).fit(
        interactions, social=social
    )

    loaded = load(artifact_without(model, ("regularization_", "validation_ndcg_")))

    assert loaded.regularization_ == 3.0
    history = interactions[5].toarray().ravel()
    np.testing.assert_array_equal(
        loaded.recommend_interactions(history, 10)[0], model.recommend_interactions(history, 10)[0]
    )


def test_social_mf_explains_a_list_in_one_product_as_item_by_item():
    interactions, stamps, social = group_data()
    model = SocialMFRecommender(factors=8, iterations=4).fit(
        interactions, timestamps=stamps, social=social
    )
    row = interactions[7]
    items = np.arange(interactions.shape[1])

    np.testing.assert_allclose(
        model._contributions_batch(row, items),
        Recommender._contributions_batch(model, row, items),
        rtol=1e-5,
        atol=1e-6,
    )
    loaded = load(model.to_bytes())
    np.testing.assert_allclose(
        loaded._item_similarities(3), model._item_similarities(3), rtol=1e-5, atol=1e-6
    )


def test_a_weight_must_beat_zero_clearly_to_be_chosen():
    rng = np.random.default_rng(6)
    at_zero = rng.random(200)
    noise = rng.normal(0.0, 0.2, 200)
    noisy_lead = at_zero + noise - noise.mean() + 0.002  # ahead by 0.002, within the noise
    clear_lead = at_zero + 0.05
    quality = np.stack([at_zero, noisy_lead, clear_lead])
    everyone = np.ones(200, dtype=bool)
    grid = (0.0, 0.5, 1.0)

    careful = SocialBlendRecommender(grid=grid, confidence=0.9)
    eager = SocialBlendRecommender(grid=grid, confidence=None)

    assert careful._choose(quality[:2], everyone) == 0
    assert eager._choose(quality[:2], everyone) == 1
    assert careful._choose(quality, everyone) == 2


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"validation": "random"}, "validation"),
        ({"confidence": 1.5}, "confidence"),
        ({"cold_items": -1}, "cold_items"),
        ({"recency_grid": (None, 0.0)}, "recency_grid"),
        ({"recency_grid": ()}, "recency_grid"),
        ({"validation_folds": 0}, "validation_folds"),
        ({"gate_penalty": -0.1}, "gate_penalty"),
    ],
)
def test_bad_blend_parameters_raise_value_error_naming_them(params, name):
    interactions, stamps, social = group_data()
    with pytest.raises(ValueError, match=name):
        SocialBlendRecommender(**params).fit(interactions, timestamps=stamps, social=social)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"factors": 0}, "factors"),
        ({"social_regularization": -1.0}, "social_regularization"),
        ({"iterations": 1.5}, "iterations"),
        ({"regularization": -1.0}, "regularization"),
    ],
)
def test_bad_social_mf_parameters_raise_value_error_naming_them(params, name):
    interactions, _, social = group_data()
    with pytest.raises(ValueError, match=name):
        SocialMFRecommender(**params).fit(interactions, social=social)


def test_the_per_user_validation_learns_weights_where_friends_predict_the_newest_items():
    interactions, stamps, social = group_data()
    model = SocialBlendRecommender(
        collaborative=("item_knn", {}),
        validation="per_user",
        validation_fraction=0.3,
        min_validation_users=5,
    ).fit(interactions, timestamps=stamps, social=social)

    assert model.fallback_ is None
    assert model.weight_ > 0
    assert 0 < model.validation_ndcg_ <= 1


def test_an_artifact_of_the_first_social_blend_still_loads_and_ranks():
    interactions, stamps, social = group_data()
    model = SocialBlendRecommender(collaborative=("item_knn", {}), weight=1.0).fit(
        interactions, timestamps=stamps, social=social
    )
    # The first version had one weight, no validation curve and no recency.
    first = (
        "cold_weight_",
        "validation_curve_",
        "recency_days_",
        "times_",
        "now_",
        "agreed_weight_",
        "agreement_threshold_",
    )

    loaded = load(artifact_without(model, first))

    assert loaded.cold_weight_ == loaded.weight_ == 1.0
    users = np.arange(interactions.shape[0])
    np.testing.assert_array_equal(
        loaded.recommend_batch(users, 5)[0], model.recommend_batch(users, 5)[0]
    )


@pytest.fixture
def scored(monkeypatch) -> list[int]:
    """How many users each validation fold of a social blend scores, as they are scored."""
    sizes: list[int] = []
    original = SocialBlendRecommender._fold_quality

    def counting(self, model, earlier, earlier_times, users, *args, **kwargs):
        sizes.append(users.size)
        return original(self, model, earlier, earlier_times, users, *args, **kwargs)

    monkeypatch.setattr(SocialBlendRecommender, "_fold_quality", counting)
    return sizes


def test_a_large_catalog_scores_fewer_validation_users_per_fold(scored, monkeypatch):
    interactions, stamps, social = group_data(n_per_group=60)  # 240 users x 40 items

    def fit() -> None:
        SocialBlendRecommender(collaborative=("item_knn", {}), min_validation_users=5).fit(
            interactions, timestamps=stamps, social=social
        )

    fit()
    assert max(scored) > 100
    # Dense scores of 100 users x 40 items at most: a catalog this large would hold
    # no more users' scores per fold.
    monkeypatch.setattr("recommendations.engine.blend.VALIDATION_CELLS", 100 * 40)
    scored.clear()
    fit()
    assert max(scored) == 100


def test_no_fold_is_added_once_enough_full_folds_are_pooled(scored):
    interactions, stamps, social = group_data(n_per_group=60)  # 240 users x 40 items

    def fit(max_users: int) -> None:
        SocialBlendRecommender(
            collaborative=("item_knn", {}), min_validation_users=5, max_validation_users=max_users
        ).fit(interactions, timestamps=stamps, social=social)

    fit(3000)  # folds of fewer users than allowed: all five
    assert len(scored) == 5 and max(scored) < 3000
    scored.clear()
    fit(20)  # every fold full
    assert scored == [20] * social_module.ENOUGH_FOLDS


def random_mix(seed: int = 0) -> tuple:
    """Collaborative rows (own items at -inf), sparse votes, a tie-break and the relevant
    items of 40 users over 300 items; a quarter of the users have no votes, and five
    have nearly flat rows, which the tie-break orders."""
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(40, 300)).astype(np.float32)
    base[10:15] *= 1e-5
    base[rng.random(base.shape) < 0.05] = -np.inf
    votes = np.where(rng.random(base.shape) < 0.04, rng.random(base.shape), 0.0)
    votes = votes.astype(np.float32)
    votes[:10] = 0.0
    tie_break = (1e-3 * rng.random(300)).astype(np.float32)
    relevant = sp.csr_matrix((rng.random(base.shape) < 0.03).astype(np.float32))
    return base, votes, tie_break, relevant


def mix_ranked_whole(base, votes, tie_break, grid, relevant) -> np.ndarray:
    """NDCG@20 of each weight of ``grid``, every item of every row ranked."""
    peak = votes.max(axis=1, keepdims=True)
    scaled = votes / np.where(peak > 0, peak, 1.0)
    quality = []
    for weight in grid:
        mixed = np.where((peak > 0) & (weight > 0), base + weight * scaled + tie_break, base)
        quality.append(ndcg_per_user(social_module.top_rows(mixed, 20), relevant, 20))
    return np.array(quality)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ranking_the_shortlists_gives_the_quality_of_ranking_every_item(seed):
    base, votes, tie_break, relevant = random_mix(seed)
    grid = [0.0, 0.1, 0.5, 2.0, 20.0]
    best = social_module.top_rows(base, 20)
    floor = social_module.top_rows(base + tie_break, 20)

    short = social_module.mixed_quality(
        base, votes, tie_break, grid, relevant, 20, best=best, floor=floor
    )

    whole = mix_ranked_whole(base, votes, tie_break, grid, relevant)
    np.testing.assert_allclose(short, whole, rtol=1e-6, atol=1e-9)
    assert (whole[1:, 10:] != whole[0, 10:]).any()  # the votes changed some lists
    assert (whole[:, :10] == whole[0, :10]).all()  # and none of the users without votes
