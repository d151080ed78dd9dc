"""Blend: ranker or weights learned on a validation period, nested components, persistence."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine import load
from recommendations.engine.blend import (
    DEFAULT_COMPONENTS,
    RECENCY_HALF_LIFE_DAYS,
    BlendRecommender,
    candidate_pool,
    item_time_features,
    rank_rows,
    standardise_rows,
)
from recommendations.engine.itemknn import ItemKNNRecommender
from tests.engine.test_content import grouped_purchases
from tests.engine.test_contract import assert_same_rankings, random_interactions, side_data

COMPONENTS = [("popularity", {}), ("item_knn", {"k": 10})]


@pytest.fixture(scope="module")
def data() -> dict:
    return grouped_purchases(n_users=120)


def test_standardise_rows_gives_zero_mean_unit_spread_and_floors_infinities():
    scores = np.array([[1.0, 2.0, 3.0, -np.inf], [5.0, 5.0, 5.0, 5.0]])
    result = standardise_rows(scores)
    assert np.all(np.isfinite(result))
    np.testing.assert_allclose(result.mean(axis=1), 0.0, atol=1e-6)
    np.testing.assert_allclose(result[0].std(), 1.0, rtol=1e-5)
    assert result[0, 3] == result[0, 0]
    assert np.all(result[1] == 0)


def test_rank_rows_gives_reciprocal_ranks_and_puts_infinities_last():
    scores = np.array([[0.5, 3.0, -np.inf, 1.0]])
    np.testing.assert_allclose(rank_rows(scores, offset=0.0), [[1 / 3, 1.0, 1 / 4, 1 / 2]])


def test_default_blend_ranks_with_decayed_histories_and_keeps_every_component(data):
    # The mechanics of the ranker, not whether it beats EASE alone on this data.
    model = BlendRecommender(max_validation_users=50, compare_components=False).fit(
        data["interactions"], timestamps=data["timestamps"]
    )
    assert [name for name, _ in DEFAULT_COMPONENTS] == ["ease", "item_knn", "trending"]
    # The ranker keeps every component: each one proposes candidates, whatever its weight.
    assert [c.name for c in model.components_] == ["ease", "item_knn", "trending"]
    assert model.weights_.shape == (3,)
    assert model.item_prior_.shape == (data["interactions"].shape[1],)
    assert 0 < model.validation_ndcg_ <= 1
    for component in model.components_:
        if component.name != "trending":
            assert component.recency_half_life_days == RECENCY_HALF_LIFE_DAYS
            assert component.timestamps_.nnz == data["interactions"].nnz


def test_blend_round_trips_the_decayed_histories_of_its_components(data):
    components = [("item_knn", {"k": 10, "recency_half_life_days": 7.0}), ("svd", {})]
    model = BlendRecommender(components=components, weights=[1.0, 1.0]).fit(
        data["interactions"], timestamps=data["timestamps"]
    )
    restored = load(model.to_bytes())
    assert restored.components_[0].timestamps_.nnz == data["interactions"].nnz
    assert restored.components_[1].timestamps_ is None
    users = np.arange(40)
    np.testing.assert_allclose(restored._score_users(users), model._score_users(users))
    plain = BlendRecommender(components=[("item_knn", {"k": 10}), ("svd", {})], weights=[1, 1])
    plain.fit(data["interactions"], timestamps=data["timestamps"])
    # Decay changes the ranking of known users, not of the same rows given ad hoc.
    assert not np.allclose(plain._score_users(users), model._score_users(users))
    rows = data["interactions"][users]
    np.testing.assert_allclose(plain._score_rows(rows, None), model._score_rows(rows, None))


def test_repeat_purchases_in_the_validation_period_are_history_not_new_items(data):
    interactions = data["interactions"].copy()
    stamps = data["timestamps"].copy()
    # Every pair bought in the last 10 days was bought more than once: all repeats.
    late = stamps.data >= stamps.data.max() - 10 * 86_400
    interactions.data[late] = 2.0
    interactions.data[~late] = 1.0
    params = {"components": COMPONENTS, "validation_days": 10, "validation_folds": 1}
    repeats_only = BlendRecommender(**params).fit(interactions, timestamps=stamps)
    assert repeats_only.fallback_.startswith("no validation period")
    model = BlendRecommender(**params, new_items_only=False).fit(interactions, timestamps=stamps)
    # A period to learn from (whether the combination then beats its best component is
    # the self-check's business, tested in test_quality.py).
    assert model.validation_ == "time" and model.selection_ is not None
    assert model.fallback_ is None or model.fallback_.startswith("its best component")
    assert model.validation_ndcg_ > 0


@pytest.mark.parametrize("combiner", ["ranker", "linear"])
@pytest.mark.parametrize("normalisation", ["zscore", "rank"])
def test_two_validation_folds_give_a_mean_ndcg(data, normalisation, combiner):
    model = BlendRecommender(
        components=COMPONENTS, validation_folds=2, normalisation=normalisation, combiner=combiner
    ).fit(data["interactions"], timestamps=data["timestamps"])
    assert 0 < model.validation_ndcg_ <= 1
    assert "item_knn" in [component.name for component in model.components_]


@pytest.mark.parametrize("combiner", ["ranker", "linear"])
def test_blend_weighs_the_component_that_predicts_the_validation_period(data, combiner):
    model = BlendRecommender(components=COMPONENTS, validation_days=30, combiner=combiner).fit(
        data["interactions"], timestamps=data["timestamps"]
    )
    # Users buy inside their group, which item-kNN sees and popularity does not.
    names = [component.name for component in model.components_]
    assert "item_knn" in names
    weights = dict(zip(names, model.weights_, strict=True))
    assert weights["item_knn"] > weights.get("popularity", 0.0)
    assert 0 < model.validation_ndcg_ <= 1


def test_blend_with_one_fixed_component_ranks_like_that_component(data):
    blend = BlendRecommender(components=[("item_knn", {"k": 10})], weights=[2.0]).fit(
        data["interactions"]
    )
    alone = ItemKNNRecommender(k=10).fit(data["interactions"])
    users = np.arange(30)
    np.testing.assert_array_equal(
        blend.recommend_batch(users, 5)[0], alone.recommend_batch(users, 5)[0]
    )
    assert blend.validation_ndcg_ is None
    # Fixed weights are a linear mix, whatever the combiner: no ranker is learned.
    assert blend.item_prior_ is None


def test_blend_round_trips_with_its_nested_components(data):
    model = BlendRecommender(components=COMPONENTS, weights=[0.5, 1.0]).fit(data["interactions"])
    restored = load(model.to_bytes())
    assert [c.name for c in restored.components_] == ["popularity", "item_knn"]
    users = np.arange(40)
    np.testing.assert_allclose(restored._score_users(users), model._score_users(users))
    assert restored.similar_items(3, n=4)[0].tolist() == model.similar_items(3, n=4)[0].tolist()
    assert restored.explain(int(model.recommend(0, n=1)[0][0]), user_id=0)


@pytest.mark.parametrize(
    ("params", "fit_kwargs", "message"),
    [
        ({"components": COMPONENTS, "validation": "time"}, {}, "blend needs timestamps"),
        ({"components": [("nope", {})], "weights": [1.0]}, {}, "Unknown blend component 'nope'"),
        ({"components": [("blend", {})], "weights": [1.0]}, {}, "Unknown blend component"),
        ({"components": COMPONENTS, "weights": [1.0]}, {}, "weights has 1 values for 2"),
        ({"components": COMPONENTS, "weights": [0, 0]}, {}, "must not all be zero"),
        ({"components": COMPONENTS, "normalisation": "max"}, {}, "normalisation must be one"),
        ({"components": COMPONENTS, "new_items_only": 1}, {}, "new_items_only must be"),
        ({"components": COMPONENTS, "validation_folds": 0}, {"timestamps": True}, "validation_f"),
        ({"components": COMPONENTS, "combiner": "tree"}, {"timestamps": True}, "combiner must be"),
        ({"components": COMPONENTS, "candidates": 0}, {"timestamps": True}, "candidates must be"),
        ({"components": COMPONENTS, "candidates": 2.5}, {"timestamps": True}, "candidates must"),
        ({"components": COMPONENTS, "ranker_c": 0}, {"timestamps": True}, "ranker_c must be"),
        ({"components": COMPONENTS, "ranker_c": -1.0}, {"timestamps": True}, "ranker_c must"),
        (
            {"components": COMPONENTS, "min_validation_users": 0},
            {"timestamps": True},
            "min_validation_users must be",
        ),
    ],
)
def test_blend_rejects_bad_configuration_with_a_clear_message(data, params, fit_kwargs, message):
    kwargs = {"timestamps": data["timestamps"]} if fit_kwargs else {}
    with pytest.raises(ValueError, match=message):
        BlendRecommender(**params).fit(data["interactions"], **kwargs)


def test_blend_similar_items_of_an_unsold_item_is_empty_not_an_error(data):
    # Item-kNN knows nothing about an item nobody bought: no similar item, no error.
    model = BlendRecommender(components=[("item_knn", {"k": 10})], weights=[1.0]).fit(
        data["interactions"]
    )
    items, scores = model.similar_items(int(data["cold"][0]), n=5)
    assert items.size == 0 and scores.size == 0


def test_item_time_features_count_recent_buyers_trend_and_age_at_the_latest_event():
    day = 86_400.0
    now = 1.7e9
    # Item 0: bought 1 and 100 days before the latest event; item 1: 20 days before;
    # item 2: never. The weight-0 pair of item 1 does not count.
    interactions = sp.csr_matrix(np.array([[1.0, 1.0, 0.0], [2.0, 0.0, 0.0]]))
    stamps = sp.csr_matrix(np.array([[now, now - 20 * day, 0.0], [now - 100 * day, 0, 0]]))
    features = item_time_features(interactions, stamps)
    assert features.shape == (3, 9)
    recent = np.expm1(features[:, :5])  # buyers within 7, 14, 30, 90 days, and all
    np.testing.assert_allclose(recent[0], [1, 1, 1, 1, 2])
    np.testing.assert_allclose(recent[1], [0, 0, 1, 1, 1])
    np.testing.assert_allclose(recent[2], 0.0, atol=1e-12)
    np.testing.assert_allclose(features[0, 5:7], [np.log(2 / 2), np.log(2 / 3)])
    np.testing.assert_allclose(np.expm1(features[0, 7:]), [0.0, 100.0], atol=1e-9)
    np.testing.assert_allclose(np.expm1(features[1, 7:]), [20.0, 20.0])
    # Never sold: the latest and the earliest sale are as old as can be.
    assert np.all(features[2, 7:] > features[0, 8])


def test_candidate_pool_is_the_union_of_each_components_best_outside_the_history():
    first = np.array([[5.0, 4.0, 3.0, 2.0, 1.0, 0.0]])
    second = np.array([[0.0, 1.0, 2.0, 3.0, 4.0, 5.0]])
    first[0, 0] = second[0, 0] = -np.inf  # item 0 is in the history
    pool = candidate_pool([first, second], 2)
    assert np.flatnonzero(pool[0]).tolist() == [1, 2, 4, 5]
    assert candidate_pool([first], 10)[0].tolist() == [False] + [True] * 5


def ranker(**params) -> BlendRecommender:
    """A ranker blend on the contract test's random data (with its timestamps); kept
    whatever its gain over its components (random data: none to speak of)."""
    components = [("item_knn", {"k": 5}), ("svd", {"factors": 4}), ("trending", {})]
    params = {"compare_components": False, **params}
    return BlendRecommender(components=components, candidates=4, **params).fit(
        random_interactions(), **side_data()
    )


def test_ranker_puts_every_candidate_above_every_other_item():
    model = ranker()
    users = np.arange(29)
    seen = model.interactions_[users].nonzero()
    raw = [c._score_users(users) for c in model.components_]
    masked = []
    for part in raw:
        part = np.array(part, dtype=np.float32)
        part[seen] = -np.inf
        masked.append(part)
    pool = candidate_pool(masked, 4)
    scores = model._score_users(users)
    for row in range(users.size):
        assert pool[row].sum() >= 4
        # Candidates from 1 up, the rest at most 0: "positive" means "a candidate".
        assert scores[row][pool[row]].min() >= 1.0
        assert scores[row][~pool[row]].max() <= 0.0


def test_blocked_items_never_take_a_candidates_place(data):
    model = BlendRecommender(components=COMPONENTS, candidates=3, compare_components=False).fit(
        data["interactions"], timestamps=data["timestamps"]
    )
    row = model.interactions_[3]
    free, free_scores = model.recommend_interactions(row, 30)
    candidates = free[free_scores > 0]
    # Block every candidate of the unfiltered call: new candidates take their places.
    items, scores = model.recommend_interactions(row, 30, blocked=candidates)
    assert not set(items.tolist()) & set(candidates.tolist())
    assert (scores > 0).sum() >= 3
    # The same through an allow list, and for a known user.
    allowed = np.setdiff1d(np.arange(model.n_items_), candidates)
    again, _ = model.recommend_interactions(row, 30, allowed=allowed)
    np.testing.assert_array_equal(again, items)
    known, known_scores = model.recommend(3, 30, blocked=candidates)
    assert (known_scores > 0).sum() >= 3 and not set(known.tolist()) & set(candidates.tolist())


def test_ranker_blend_passes_the_contract_of_rankings_and_persistence():
    model = ranker()
    assert model.item_prior_ is not None and len(model.components_) == 3
    again = ranker()
    users = np.arange(30)
    np.testing.assert_array_equal(
        model.recommend_batch(users, 10)[0], again.recommend_batch(users, 10)[0]
    )
    np.testing.assert_array_equal(
        model.recommend_batch(users, 10)[1], again.recommend_batch(users, 10)[1]
    )
    assert_same_rankings(model, load(model.to_bytes()))
    for user in range(29):
        items, scores = model.recommend(user, 5)
        assert not set(items.tolist()) & set(model.interactions_[user].indices.tolist())
        assert np.all(np.diff(scores) <= 0) and np.all(np.isfinite(scores))
        single = model.recommend_batch([user], 5)[0][0]
        np.testing.assert_array_equal(single[: items.size], items)


def test_ranker_explains_and_finds_similar_items_with_positively_weighted_components_only():
    model = ranker()
    model.weights_ = np.array([1.0, -1.0, -1.0], dtype=np.float32)
    # Only item-kNN counts: its similarities and explanations come back unchanged.
    knn = model.components_[0]
    np.testing.assert_allclose(
        model._item_similarities(3), knn._item_similarities(3) / knn._item_similarities(3).max()
    )
    row = model.interactions_[0]
    item = int(model.recommend(0, 1)[0][0])
    expected = knn._contributions(row, item)
    np.testing.assert_allclose(model._contributions(row, item), expected / np.abs(expected).sum())


def with_late_event(data: dict, *, years: float) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The data plus one new pair of user 0, ``years`` after the latest event."""
    interactions = data["interactions"].tolil()
    stamps = data["timestamps"].tolil()
    item = int(np.flatnonzero(data["interactions"][0].toarray().ravel() == 0)[0])
    interactions[0, item] = 1.0
    stamps[0, item] = data["timestamps"].data.max() + years * 365 * 86_400
    return interactions.tocsr(), stamps.tocsr()


@pytest.mark.parametrize("combiner", ["ranker", "linear"])
def test_a_validation_period_after_a_long_gap_moves_back_to_where_the_events_are(data, combiner):
    interactions, stamps = with_late_event(data, years=15)

    model = BlendRecommender(
        components=COMPONENTS, combiner=combiner, compare_components=False
    ).fit(interactions, timestamps=stamps)

    # The fresh pair alone would make an empty period; the data before the gap is used.
    assert model.fallback_ is None
    assert 0 < model.validation_ndcg_ <= 1
    assert "item_knn" in [component.name for component in model.components_]


def test_too_few_validation_users_fall_back_to_the_best_component_and_say_why(data):
    interactions, stamps = data["interactions"][:8], data["timestamps"][:8]

    model = BlendRecommender(components=COMPONENTS, validation_folds=1).fit(
        interactions, timestamps=stamps
    )

    assert "no validation period of 30 days holds 10 users" in model.fallback_
    assert len(model.components_) == 1 and model.weights_.tolist() == [1.0]
    alone = model.components_[0]
    users = np.arange(8)
    np.testing.assert_array_equal(
        model.recommend_batch(users, 5)[0], alone.recommend_batch(users, 5)[0]
    )
    assert load(model.to_bytes()).fallback_ == model.fallback_
