"""One contract every registered recommender passes, whatever its algorithm."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp

import recommendations.engine as engine
from recommendations.engine import NotFittedError, Recommender, load

# Small, fast configurations; a name missing here is tested with its defaults.
TEST_PARAMS: dict[str, dict[str, Any]] = {
    "item_knn": {"k": 5},
    "user_knn": {"k": 5},
    "svd": {"factors": 4},
    "ease": {"l2": 1.0},
    "rp3beta": {"k": 5},
    "content": {"k": 5},
    "cooccurrence": {"k": 5},
    "similar_blend": {"k": 5},
    # Fixed weights: the weight search needs timestamps, which not every test gives.
    "blend": {
        "components": [("item_knn", {"k": 5}), ("svd", {"factors": 4})],
        "weights": [1.0, 0.5],
    },
    "social_blend": {"collaborative": ("item_knn", {"k": 5}), "min_validation_users": 2},
    "social_rerank": {"collaborative": ("item_knn", {"k": 5}), "min_validation_users": 2},
    "social_mf": {"factors": 4, "iterations": 5},
    "als": {"factors": 4, "iterations": 5},
    "mlp": {
        "factors": 4,
        "content_factors": 2,
        "hidden_layer_sizes": (8,),
        "max_iter": 30,
        "max_pairs": 2000,
    },
}
# Rankings that ignore the user's own history: their right answer is the best seller.
NON_PERSONAL = {"popularity", "trending", "social_trust"}
NAMES = sorted(engine.registered())

N_USERS, N_ITEMS = 30, 18


def make(name: str) -> Recommender:
    """A recommender of the registered ``name`` with its test configuration."""
    return engine.registered()[name](**TEST_PARAMS.get(name, {}))


def random_interactions(seed: int = 0) -> sp.csr_matrix:
    """A random users x items count matrix; the last user has an empty row."""
    rng = np.random.default_rng(seed)
    dense = rng.poisson(0.5, size=(N_USERS, N_ITEMS)).astype(np.float32)
    dense[-1] = 0.0
    return sp.csr_matrix(dense)


def random_social(seed: int = 0) -> sp.csr_matrix:
    """A random users x users follow matrix; the second-to-last user follows nobody."""
    rng = np.random.default_rng(seed + 2)
    follows = rng.random((N_USERS, N_USERS)) < 0.1
    follows[-2] = False
    return sp.csr_matrix(follows, dtype=np.float32)


def side_data(seed: int = 0) -> dict[str, Any]:
    """Random user and item features, timestamps and follows, given to every fit."""
    rng = np.random.default_rng(seed + 1)
    interactions = random_interactions(seed)
    stamps = interactions.copy().astype(np.float64)
    stamps.data = 1.7e9 + rng.uniform(0, 90 * 86_400, size=stamps.nnz)
    return {
        "user_features": sp.csr_matrix(rng.random((N_USERS, 4)) > 0.5, dtype=np.float32),
        "item_features": sp.csr_matrix(rng.random((N_ITEMS, 6)) > 0.5, dtype=np.float32),
        "timestamps": stamps,
        "social": random_social(seed),
    }


def fitted(name: str, seed: int = 0) -> Recommender:
    """A recommender fitted on the random data."""
    return make(name).fit(random_interactions(seed), **side_data(seed))


@pytest.fixture(scope="module", params=NAMES)
def model(request) -> Recommender:
    return fitted(request.param)


def seen_items(user: int) -> np.ndarray:
    return random_interactions().getrow(user).indices


def test_registry_holds_the_engine_algorithms():
    expected = {"popularity", "trending", "item_knn", "user_knn", "svd", "ease"}
    assert expected <= set(NAMES)


def test_recommend_returns_sorted_int_items_and_float_scores(model):
    items, scores = model.recommend(0, 5)
    assert items.dtype == np.int64 and scores.dtype == np.float32
    assert items.shape == scores.shape and 0 < items.size <= 5
    assert np.all(np.diff(scores) <= 0)
    assert np.all(np.isfinite(scores))
    assert len(set(items.tolist())) == items.size


def test_recommend_batch_is_padded_to_a_rectangle(model):
    items, scores = model.recommend_batch([0, 1, 2], 7)
    assert items.shape == scores.shape == (3, 7)
    for row in range(3):
        single_items, single_scores = model.recommend(row, 7)
        np.testing.assert_array_equal(items[row, : single_items.size], single_items)
        # BLAS may round a batch and a single row differently in the last bits.
        np.testing.assert_allclose(
            scores[row, : single_items.size], single_scores, rtol=1e-4, atol=1e-6
        )
        assert np.all(items[row, single_items.size :] == -1)


def test_seen_items_are_excluded(model):
    for user in range(N_USERS - 1):
        items, _ = model.recommend(user, N_ITEMS)
        assert not set(items.tolist()) & set(seen_items(user).tolist())


def test_seen_items_may_come_back_when_not_excluded(model):
    user = 0
    items, _ = model.recommend(user, N_ITEMS, exclude_seen=False)
    assert items.size == N_ITEMS
    assert set(seen_items(user).tolist()) <= set(items.tolist())


def test_blocked_items_never_come_back(model):
    blocked = [0, 3, 5, 7, 11]
    for user in range(5):
        items, _ = model.recommend(user, N_ITEMS, blocked=blocked)
        assert not set(items.tolist()) & set(blocked)


def test_only_allowed_items_come_back(model):
    allowed = [1, 2, 4, 8, 16]
    for user in range(5):
        items, _ = model.recommend(user, N_ITEMS, allowed=allowed, exclude_seen=False)
        assert set(items.tolist()) <= set(allowed)
        assert items.size == len(allowed)


def test_n_larger_than_the_catalog_returns_at_most_the_catalog(model):
    items, _ = model.recommend(0, 1000, exclude_seen=False)
    assert items.size == N_ITEMS
    batch_items, _ = model.recommend_batch([0, 1], 1000)
    assert batch_items.shape == (2, N_ITEMS)


def test_a_user_with_an_empty_row_gets_valid_items(model):
    items, scores = model.recommend(N_USERS - 1, 5)
    assert items.size <= 5
    assert np.all((items >= 0) & (items < N_ITEMS))
    assert np.all(np.isfinite(scores))


def test_one_user_at_a_time_scores_like_the_batch(model):
    # Serving scores one history per call, by a path of its own in several models.
    users = np.arange(N_USERS)
    batch_items, batch_scores = model.recommend_batch(users, 8)
    rows = random_interactions()
    ad_hoc_batch = model._score_rows(rows, None)
    for user in users:
        items, scores = model.recommend(int(user), 8)
        np.testing.assert_array_equal(items, batch_items[user][: items.size])
        np.testing.assert_allclose(scores, batch_scores[user][: items.size], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(
            model._score_rows(rows[[user]], None)[0], ad_hoc_batch[user], rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("name", NAMES)
def test_two_fits_with_the_same_seed_give_identical_output(name):
    first, second = fitted(name), fitted(name)
    users = np.arange(N_USERS)
    first_items, first_scores = first.recommend_batch(users, 10)
    second_items, second_scores = second.recommend_batch(users, 10)
    np.testing.assert_array_equal(first_items, second_items)
    np.testing.assert_array_equal(first_scores, second_scores)


@pytest.mark.parametrize("name", NAMES)
def test_fitting_again_replaces_what_was_learned(name):
    refitted = fitted(name, seed=1).fit(random_interactions(0), **side_data(0))
    np.testing.assert_array_equal(
        refitted.recommend_batch(np.arange(N_USERS), 10)[0],
        fitted(name).recommend_batch(np.arange(N_USERS), 10)[0],
    )


def assert_same_rankings(original: Recommender, loaded: Recommender) -> None:
    assert type(loaded) is type(original)
    # Parameters travel as JSON, where a tuple becomes a list.
    assert loaded.get_params() == json.loads(json.dumps(original.get_params()))
    users = np.arange(N_USERS)
    for kwargs in ({}, {"exclude_seen": False}, {"blocked": [1, 2], "allowed": [1, 3, 4, 9]}):
        expected = original.recommend_batch(users, 10, **kwargs)
        actual = loaded.recommend_batch(users, 10, **kwargs)
        np.testing.assert_array_equal(actual[0], expected[0])
        np.testing.assert_array_equal(actual[1], expected[1])
    vector = random_interactions(3).getrow(0)
    np.testing.assert_array_equal(
        np.concatenate(loaded.recommend_interactions(vector, 10)),
        np.concatenate(original.recommend_interactions(vector, 10)),
    )


def test_save_and_load_through_a_file_keep_the_rankings(model, tmp_path):
    path = tmp_path / "artifacts" / "model.npz"
    model.save(path)
    assert_same_rankings(model, load(path))
    assert_same_rankings(model, load(str(path)))


def test_save_and_load_through_bytes_keep_the_rankings(model):
    data = model.to_bytes()
    assert_same_rankings(model, load(data))
    assert_same_rankings(model, load(io.BytesIO(data)))


def test_loading_corrupt_bytes_raises_value_error(model):
    data = model.to_bytes()
    with pytest.raises(ValueError):
        load(b"this is not an artifact")
    with pytest.raises(ValueError):
        load(data[: len(data) // 2])


def grouped_data() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Two disjoint groups of co-bought items; group B is bought by more users.

    Items 0-4 are group A, 5-9 group B. Users 0-5 buy pairs of group A items,
    users 6-17 buy pairs of group B items; item 5 is the best seller.
    """
    rng = np.random.default_rng(7)
    dense = np.zeros((18, 10), dtype=np.float32)
    for user in range(18):
        group = np.arange(5) if user < 6 else np.arange(5, 10)
        dense[user, rng.choice(group, size=3, replace=False)] = 1.0
    dense[:, 5] = 0.0
    dense[6:, 5] = 1.0
    item_features = np.zeros((10, 3), dtype=np.float32)
    item_features[:5, 0] = 1.0
    item_features[5:, 1] = 1.0
    item_features[:, 2] = rng.random(10)
    return sp.csr_matrix(dense), sp.csr_matrix(item_features)


@pytest.mark.parametrize("name", NAMES)
def test_known_answer_on_two_groups_of_co_bought_items(name):
    interactions, item_features = grouped_data()
    recommender = make(name).fit(
        interactions,
        item_features=item_features,
        user_features=np.ones((interactions.shape[0], 1), dtype=np.float32),
    )
    history = np.zeros(10, dtype=np.float32)
    history[[0, 1]] = 1.0
    items, _ = recommender.recommend_interactions(history, 3, user_features=[[1.0]])
    popularity = np.diff(interactions.tocsc().indptr)
    if name in NON_PERSONAL:
        assert items[0] == int(np.argmax(popularity)) == 5
    else:
        assert set(items.tolist()) == {2, 3, 4}
        known_items, _ = recommender.recommend(0, 2)
        assert set(known_items.tolist()) <= {0, 1, 2, 3, 4}


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    "interactions",
    [
        sp.csr_matrix((0, 0), dtype=np.float32),
        sp.csr_matrix((3, 0), dtype=np.float32),
        np.array([[1.0, np.nan], [0.0, 1.0]]),
        np.array([[1.0, np.inf], [0.0, 1.0]]),
        np.array([[1.0, -1.0], [0.0, 1.0]]),
        np.array([1.0, 2.0]),
    ],
    ids=["empty", "no-items", "nan", "inf", "negative", "1-d"],
)
def test_bad_interactions_raise_value_error(name, interactions):
    with pytest.raises(ValueError):
        make(name).fit(interactions)


def test_unknown_user_raises_value_error(model):
    for user in (-1, N_USERS):
        with pytest.raises(ValueError, match="unknown index"):
            model.recommend(user, 5)
    with pytest.raises(ValueError):
        model.recommend_batch([0, N_USERS + 3], 5)


def test_unknown_items_raise_value_error(model):
    with pytest.raises(ValueError, match="blocked"):
        model.recommend(0, 5, blocked=[N_ITEMS])
    with pytest.raises(ValueError, match="allowed"):
        model.recommend(0, 5, allowed=[-1])
    with pytest.raises(ValueError):
        model.similar_items(N_ITEMS)
    with pytest.raises(ValueError):
        model.explain(-1, user_id=0)


@pytest.mark.parametrize("n", [0, -3, 2.5, True])
def test_n_must_be_a_positive_integer(model, n):
    with pytest.raises(ValueError, match="n must be"):
        model.recommend(0, n)
    with pytest.raises(ValueError, match="n must be"):
        model.similar_items(0, n)


def test_ad_hoc_vector_of_the_wrong_length_raises_value_error(model):
    with pytest.raises(ValueError):
        model.recommend_interactions(np.ones(N_ITEMS + 1))


@pytest.mark.parametrize("name", NAMES)
def test_use_before_fit_raises_not_fitted(name):
    recommender = make(name)
    with pytest.raises(NotFittedError):
        recommender.recommend(0, 5)
    with pytest.raises(NotFittedError):
        recommender.recommend_interactions(np.ones(3), 5)
    with pytest.raises(NotFittedError):
        recommender.similar_items(0)
    with pytest.raises(NotFittedError):
        recommender.to_bytes()


def test_recommend_interactions_ranks_an_ad_hoc_vector(model):
    vector = np.zeros(N_ITEMS, dtype=np.float32)
    vector[[2, 6, 9]] = [1.0, 3.0, 1.0]
    items, scores = model.recommend_interactions(
        vector, 5, user_features=np.ones((1, 4), dtype=np.float32)
    )
    assert 0 < items.size <= 5
    assert not {2, 6, 9} & set(items.tolist())
    assert np.all(np.isfinite(scores)) and np.all(np.diff(scores) <= 0)
    same = model.recommend_interactions(sp.csr_matrix(vector), 5)
    np.testing.assert_array_equal(same[0], model.recommend_interactions(vector, 5)[0])
    all_items, _ = model.recommend_interactions(vector, N_ITEMS, exclude_seen=False)
    assert {2, 6, 9} <= set(all_items.tolist())


def test_similar_items_never_returns_the_item_itself(model):
    for item in range(N_ITEMS):
        items, scores = model.similar_items(item, 5)
        assert item not in items.tolist()
        assert items.size <= 5 and np.all(scores > 0)
        assert len(set(items.tolist())) == items.size


def test_explain_points_at_the_users_own_history(model):
    for user in range(N_USERS - 1):
        history = set(seen_items(user).tolist())
        for item in model.recommend(user, 3)[0]:
            reasons = model.explain(int(item), user_id=user, n=3)
            assert len(reasons) <= 3
            assert {reason for reason, _ in reasons} <= history
            shares = [share for _, share in reasons]
            assert all(share > 0 for share in shares)
            assert sum(shares) <= 1.0 + 1e-6
            assert shares == sorted(shares, reverse=True)


def test_explain_an_ad_hoc_vector(model):
    vector = np.zeros(N_ITEMS, dtype=np.float32)
    vector[[0, 4]] = 1.0
    item = int(model.recommend_interactions(vector, 1)[0][0])
    reasons = model.explain(item, interactions=vector)
    assert {reason for reason, _ in reasons} <= {0, 4}
    assert sum(share for _, share in reasons) <= 1.0 + 1e-6
    with pytest.raises(ValueError, match="exactly one"):
        model.explain(item)
