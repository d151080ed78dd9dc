"""Quality in every shop: the blend's self-check, per-user validation, models without
item features, EASE's exact fast paths and refusal, and the history cap's tie rule."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine import load
from recommendations.engine.blend import BlendRecommender
from recommendations.engine.content import ContentRecommender
from recommendations.engine.ease import (
    CatalogTooLargeError,
    EASERecommender,
    KernelWeights,
    LowRankWeights,
    ease_solve,
)
from recommendations.engine.itemknn import top_k_per_row
from recommendations.engine.mlp import MLPRecommender
from tests.engine.test_content import grouped_purchases

DAY = 86_400.0


@pytest.fixture(scope="module")
def data() -> dict:
    return grouped_purchases(n_users=120)


def naive_ease(dense: np.ndarray, l2: float) -> np.ndarray:
    """``B = I - P / diag(P)`` with an explicit float64 inverse, the textbook formula."""
    precision = np.linalg.inv(dense.T @ dense + l2 * np.eye(dense.shape[1]))
    weights = -precision / np.diag(precision)[None, :]
    np.fill_diagonal(weights, 0.0)
    return weights


# -- the blend checks itself against its components ---------------------------------


def test_a_blend_whose_ranker_cannot_beat_ease_falls_back_to_ease_and_says_so(data):
    # Users buy inside their group: EASE alone ranks each group's items best, and the
    # ranker's other inputs (popularity, sales) only blur that.
    model = BlendRecommender(max_validation_users=50).fit(
        data["interactions"], timestamps=data["timestamps"]
    )

    scores = json.loads(model.selection_)
    assert scores["ease"] >= max(v for key, v in scores.items() if key.startswith("ranker"))
    assert model.fallback_.startswith("its best component alone, ease, scored NDCG@20")
    assert [c.name for c in model.components_] == ["ease"]
    assert model.weights_.tolist() == [1.0] and model.item_prior_ is None
    assert model.validation_ndcg_ == pytest.approx(scores["ease"], rel=1e-5)
    alone = EASERecommender(recency_half_life_days=120.0, max_history=100).fit(
        data["interactions"], timestamps=data["timestamps"]
    )
    users = np.arange(60)
    np.testing.assert_array_equal(
        model.recommend_batch(users, 10)[0], alone.recommend_batch(users, 10)[0]
    )
    restored = load(model.to_bytes())
    assert restored.fallback_ == model.fallback_ and restored.selection_ == model.selection_


def test_without_the_self_check_the_same_blend_keeps_its_ranker(data):
    model = BlendRecommender(max_validation_users=50, compare_components=False).fit(
        data["interactions"], timestamps=data["timestamps"]
    )
    assert model.fallback_ is None
    assert [c.name for c in model.components_] == ["ease", "item_knn", "trending"]
    assert model.item_prior_ is not None


def test_a_blend_that_wins_on_its_folds_keeps_the_combination_it_learned():
    # Half the purchases follow co-purchases (item-kNN), half follow what sells now
    # (trending): neither component alone sees both.
    rng = np.random.default_rng(7)
    n_users, n_items = 300, 60
    counts = np.zeros((n_users, n_items), dtype=np.float32)
    latest = np.zeros((n_users, n_items))
    hot = rng.permutation(n_items)
    for user in range(n_users):
        pair = (user % 15) * 4 + np.arange(4)
        for step in range(6):
            day = rng.uniform(0, 120)
            item = rng.choice(pair) if rng.random() < 0.5 else hot[int(day // 20) * 3 + step % 3]
            counts[user, item] = 1.0
            latest[user, item] = max(latest[user, item], 1.7e9 + day * DAY)
    model = BlendRecommender(
        components=[("item_knn", {"k": 10}), ("trending", {"half_life_days": 10.0})],
        new_items_only=False,
    ).fit(sp.csr_matrix(counts), timestamps=sp.csr_matrix(latest))

    scores = json.loads(model.selection_)
    best_alone = max(scores["item_knn"], scores["trending"])
    assert model.fallback_ is None and len(model.components_) == 2
    chosen = (
        "ranker with sales features" if model.sales_features_ else "ranker without sales features"
    )
    assert scores[chosen] > best_alone
    assert scores[chosen] == max(v for key, v in scores.items() if key.startswith("ranker"))
    assert model.validation_ndcg_ == pytest.approx(scores[chosen], rel=1e-5)


# -- validation that resembles how the blend is used -----------------------------------


def ordinal_orders(n_users: int = 80, orders: int = 5, seed: int = 3) -> tuple:
    """Baskets numbered 1, 2, ... per user (no dates); each user's last order known."""
    rng = np.random.default_rng(seed)
    n_items = 40
    dense = np.zeros((n_users, n_items), dtype=np.float32)
    order_of = np.zeros((n_users, n_items))
    for user in range(n_users):
        group = (user % 4) * 10
        items = rng.choice(10, size=orders * 2, replace=False) + group
        for number in range(orders):
            basket = items[number * 2 : number * 2 + 2]
            dense[user, basket] = 1.0
            order_of[user, basket] = number + 1
    interactions = sp.csr_matrix(dense)
    stamps = sp.csr_matrix(order_of)
    return interactions, stamps


@pytest.mark.parametrize(
    ("timestamps", "expected"),
    [("none", "per_user"), ("ordinal", "per_user"), ("unix", "time"), ("constant", "per_user")],
)
def test_auto_validation_holds_out_per_user_where_times_are_not_absolute(timestamps, expected):
    interactions, orders = ordinal_orders()
    stamps = {
        "none": None,
        "ordinal": orders,
        "unix": orders * (30 * DAY) + sp.csr_matrix(orders > 0) * 1.7e9,
        "constant": sp.csr_matrix(orders > 0) * 1.7e9,
    }[timestamps]
    model = BlendRecommender(components=[("item_knn", {"k": 10}), ("popularity", {})])
    assert model._validation_mode(None if stamps is None else sp.csr_matrix(stamps)) == expected
    model.fit(interactions, timestamps=stamps)
    assert model.validation_ == expected


def test_per_user_validation_holds_out_each_users_last_order():
    interactions, orders = ordinal_orders(orders=5)
    orders = orders.tolil()
    orders[0, interactions[0].indices] = 1.0  # user 0 placed one order: nothing earlier
    orders = orders.tocsr()
    model = BlendRecommender(
        components=[("item_knn", {"k": 10})], validation="per_user", new_items_only=False
    )
    model._check_params()
    specs = model._component_specs()
    fold = model._per_user_fold(
        specs, interactions, user_features=None, item_features=None, timestamps=orders
    )
    # 10 pairs a user: the latest 20% are the two items of order 5, kept together.
    # User 0 is no validation user: the fold's rows are users 1 to 79.
    last = orders.toarray()[1:] == 5
    np.testing.assert_array_equal(fold.relevant.toarray() > 0, last)
    history = np.zeros(last.shape, dtype=bool)
    history[fold.seen] = True
    np.testing.assert_array_equal(history, (orders.toarray()[1:] > 0) & ~last)


def test_per_user_validation_without_times_holds_out_a_random_fifth_of_each_user():
    interactions, _ = ordinal_orders(orders=5)
    model = BlendRecommender(components=[("item_knn", {"k": 10})], new_items_only=False)
    model._check_params()
    fold = model._per_user_fold(
        model._component_specs(),
        interactions,
        user_features=None,
        item_features=None,
        timestamps=None,
    )
    assert np.all(np.diff(fold.relevant.indptr) == 2)
    # Held out and kept never overlap, and together they are the whole history.
    held = fold.relevant.toarray() > 0
    history = np.zeros(interactions.shape, dtype=bool)
    history[fold.seen] = True
    assert not (held & history).any()
    np.testing.assert_array_equal(held | history, interactions.toarray() > 0)


def test_the_sales_features_are_kept_only_when_they_win_on_the_folds(data):
    params = {"components": [("item_knn", {"k": 10}), ("popularity", {})]}
    chosen = BlendRecommender(**params, compare_components=False).fit(
        data["interactions"], timestamps=data["timestamps"]
    )
    scores = json.loads(chosen.selection_)
    with_sales = scores["ranker with sales features"]
    without = scores["ranker without sales features"]
    assert chosen.sales_features_ == (with_sales > without)
    forced = BlendRecommender(**params, sales_features=False, compare_components=False).fit(
        data["interactions"], timestamps=data["timestamps"]
    )
    assert "ranker with sales features" not in json.loads(forced.selection_)
    assert forced.sales_features_ is False
    assert np.all(forced.item_prior_ == 0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"validation": "later"}, "validation must be one of"),
        ({"sales_features": "yes"}, "sales_features must be"),
        ({"compare_components": 1}, "compare_components must be"),
    ],
)
def test_blend_rejects_bad_validation_parameters(data, params, message):
    with pytest.raises(ValueError, match=message):
        BlendRecommender(components=[("popularity", {})], **params).fit(
            data["interactions"], timestamps=data["timestamps"]
        )


# -- models that need features use the ones that exist ------------------------------


@pytest.mark.parametrize("features", ["none", "no columns", "all zeros"])
def test_content_without_usable_item_features_ranks_by_popularity_and_says_so(data, features):
    n_items = data["interactions"].shape[1]
    given = {
        "none": None,
        "no columns": sp.csr_matrix((n_items, 0)),
        "all zeros": sp.csr_matrix((n_items, 5)),
    }[features]
    model = ContentRecommender().fit(data["interactions"], item_features=given)
    assert model.features_used_ == "no item features: popularity"
    buyers = np.diff(data["interactions"].tocsc().indptr)
    items, _ = model.recommend(0, 5)
    seen = set(data["interactions"][0].indices.tolist())
    expected = [i for i in np.lexsort((np.arange(n_items), -buyers)) if i not in seen][:5]
    assert items.tolist() == expected
    assert model.similar_items(int(items[0]), 5)[0].size == 0
    restored = load(model.to_bytes())
    np.testing.assert_array_equal(restored.recommend(0, 5)[0], items)


@pytest.mark.parametrize("columns", ["category", "text"])
def test_content_and_mlp_fit_with_a_category_only_or_text_only(data, columns):
    features = data["item_features"].tocsc()
    # The last columns of item_features are the category and price one-hots; any
    # subset of columns stands for a shop that has only some of them.
    width = features.shape[1]
    part = features[:, width - 8 :] if columns == "category" else features[:, : width - 8]
    part = sp.csr_matrix(part)
    content = ContentRecommender().fit(data["interactions"], item_features=part)
    assert content.features_used_ == f"item features ({part.shape[1]} columns)"
    mlp = MLPRecommender(factors=4, content_factors=4, max_iter=5, max_pairs=2000).fit(
        data["interactions"], item_features=part
    )
    assert mlp.features_used_.startswith(f"item features ({part.shape[1]} columns)")
    assert mlp.recommend(0, 5)[0].size == 5


def test_mlp_without_item_features_is_a_collaborative_mlp_that_says_so(data):
    model = MLPRecommender(
        factors=4, content_factors=4, hidden_layer_sizes=(16, 8), max_iter=40, max_pairs=4000
    ).fit(data["interactions"], user_features=data["user_features"])
    width = data["user_features"].shape[1]
    assert model.features_used_ == f"no item features, user features ({width} columns)"
    assert model.item_content_.shape == (data["interactions"].shape[1], 0)
    # Users buy inside their group: the collaborative signal alone finds it.
    users = np.arange(40)
    top = model.recommend_batch(users, 3)[0]
    in_group = data["group_of_item"][top] == data["user_group"][users][:, None]
    assert in_group.mean() > 0.6
    restored = load(model.to_bytes())
    np.testing.assert_allclose(
        restored._score_users(users), model._score_users(users), rtol=1e-5, atol=1e-5
    )


# -- EASE: exact fast paths, a clean refusal --------------------------------------------


@pytest.mark.parametrize(
    ("n_users", "n_items", "leaf", "kind", "max_cells"),
    [
        (60, 25, 512, np.ndarray, 40_000_000),
        (60, 25, 4, np.ndarray, 40_000_000),
        (90, 41, 7, np.ndarray, 40_000_000),
        (20, 70, 512, LowRankWeights, 40_000_000),
        # Factors too large to keep: the users' kernel inverted by blocks, kept.
        (20, 70, 4, KernelWeights, 100),
    ],
    ids=["direct", "direct by blocks", "odd blocks", "woodbury", "users kernel"],
)
def test_ease_weights_match_the_textbook_inverse_and_leave_unbought_items_out(
    n_users, n_items, leaf, kind, max_cells, monkeypatch
):
    # A small leaf makes the block inversion recurse on a small catalog.
    monkeypatch.setattr("recommendations.engine.ease.SPD_LEAF", leaf)
    monkeypatch.setattr("recommendations.engine.ease.LOW_RANK_MAX_CELLS", max_cells)
    rng = np.random.default_rng(11)
    dense = (rng.random((n_users, n_items)) < 0.2).astype(np.float64)
    dense[:, [3, 9]] = 0.0  # nobody bought these
    dense[5] = 0.0  # a user without items
    solved = ease_solve(sp.csr_matrix(dense, dtype=np.float32), 4.0)
    # Fewer users than half the items: the weights stay factored until needed.
    assert isinstance(solved, kind)
    weights = solved if kind is np.ndarray else solved.dense()
    assert weights.dtype == np.float32
    expected = naive_ease(dense, 4.0)
    np.testing.assert_allclose(weights, expected, rtol=1e-5, atol=1e-7)
    assert not weights[[3, 9]].any() and not weights[:, [3, 9]].any()


def test_ease_weights_in_float32_above_two_thousand_items_match_float64():
    rng = np.random.default_rng(12)
    dense = (rng.random((2400, 2100)) < 0.01).astype(np.float64)
    weights = ease_solve(sp.csr_matrix(dense, dtype=np.float32), 50.0)
    assert isinstance(weights, np.ndarray)  # more users than items: the direct solve
    expected = naive_ease(dense, 50.0)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(weights, expected, rtol=0, atol=1e-4 * scale)


def test_kernel_weights_in_float32_above_two_thousand_users_match_float64(monkeypatch):
    monkeypatch.setattr("recommendations.engine.ease.LOW_RANK_MAX_CELLS", 100)
    rng = np.random.default_rng(14)
    dense = (rng.random((2100, 4300)) < 0.004).astype(np.float64)
    solved = ease_solve(sp.csr_matrix(dense, dtype=np.float32), 20.0)
    assert isinstance(solved, KernelWeights) and solved.inverse.dtype == np.float32
    weights = solved.dense()
    expected = naive_ease(dense, 20.0)
    scale = np.abs(expected).max()
    np.testing.assert_allclose(weights, expected, rtol=0, atol=1e-4 * scale)


@pytest.mark.parametrize("max_cells", [40_000_000, 100], ids=["woodbury", "users kernel"])
def test_ease_with_fewer_users_than_items_scores_from_its_factors_as_from_its_weights(
    max_cells, monkeypatch
):
    monkeypatch.setattr("recommendations.engine.ease.LOW_RANK_MAX_CELLS", max_cells)
    rng = np.random.default_rng(13)
    dense = (rng.random((30, 90)) < 0.15).astype(np.float32)
    dense[:, [4, 50]] = 0.0  # nobody bought these
    interactions = sp.csr_matrix(dense)
    model = EASERecommender(l2=3.0, max_history=None).fit(interactions)
    users = np.arange(30)
    factored = model._score_users(users)
    assert "weights_" not in vars(model)  # scoring alone never formed the dense weights
    expected = dense @ naive_ease(dense.astype(np.float64), 3.0)
    np.testing.assert_allclose(factored, expected, rtol=1e-4, atol=1e-5)
    # Saving forms them; the restored model ranks alike.
    restored = load(model.to_bytes())
    np.testing.assert_allclose(restored._score_users(users), factored, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(model.similar_items(1, n=5)[1], restored.similar_items(1, n=5)[1])


def test_ease_refuses_a_catalog_above_max_items_with_its_own_error():
    interactions = sp.csr_matrix(np.eye(5, dtype=np.float32))
    with pytest.raises(CatalogTooLargeError, match="max_items=4"):
        EASERecommender(max_items=4).fit(interactions)
    # Still a ValueError, for callers that catch bad input.
    assert issubclass(CatalogTooLargeError, ValueError)


def test_a_blend_goes_on_without_a_component_that_refuses_the_catalog(data):
    components = [("ease", {"max_items": 10}), ("item_knn", {"k": 10})]
    model = BlendRecommender(components=components, weights=[1.0, 1.0]).fit(data["interactions"])
    assert [c.name for c in model.components_] == ["item_knn"]
    assert "blend component 'ease'" in model.dropped_ and "max_items=10" in model.dropped_
    learned = BlendRecommender(components=components).fit(
        data["interactions"], timestamps=data["timestamps"]
    )
    assert "ease" not in json.loads(learned.selection_) and learned.dropped_
    with pytest.raises(CatalogTooLargeError):
        BlendRecommender(components=components[:1], weights=[1.0]).fit(data["interactions"])


# -- the history cap keeps the most recent of equal weights -------------------------


def test_top_k_per_row_breaks_ties_by_the_tiebreak_then_the_higher_column():
    matrix = sp.csr_matrix(np.array([[1.0, 1.0, 1.0, 1.0, 2.0]]))
    tiebreak = np.array([5.0, 9.0, 9.0, 1.0, 0.0])
    kept = top_k_per_row(matrix, 3, tiebreak=tiebreak).toarray()
    np.testing.assert_array_equal(kept, [[0, 1, 1, 0, 2]])
    kept = top_k_per_row(matrix, 2, tiebreak=np.zeros(5)).toarray()
    np.testing.assert_array_equal(kept, [[0, 0, 0, 1, 2]])


def test_ease_history_cap_keeps_the_latest_items_when_weights_tie():
    rng = np.random.default_rng(4)
    dense = (rng.random((30, 12)) < 0.3).astype(np.float32)
    dense[0] = 1.0  # one long history, all weights 1
    interactions = sp.csr_matrix(dense)
    stamps = interactions.astype(np.float64)
    stamps.data = 1.7e9 + rng.permutation(stamps.nnz) * DAY
    latest = np.argsort(-stamps[0].toarray().ravel(), kind="stable")[:4]

    dated = EASERecommender(l2=1.0, max_history=4).fit(interactions, timestamps=stamps)
    assert sorted(dated._weighted_history()[0].indices.tolist()) == sorted(latest.tolist())
    # Saved and loaded, the same items are kept.
    assert sorted(load(dated.to_bytes())._weighted_history()[0].indices.tolist()) == sorted(
        latest.tolist()
    )
    # Without times: the highest item indices (the newest products of an increasing key).
    undated = EASERecommender(l2=1.0, max_history=4).fit(interactions)
    assert undated._weighted_history()[0].indices.tolist() == [8, 9, 10, 11]
    # The times only break ties: only the long history keeps them, nothing is decayed.
    lengths = np.diff(interactions.indptr)
    np.testing.assert_array_equal(
        dated.timestamps_.getnnz(axis=1), np.where(lengths > 4, lengths, 0)
    )
    short = np.flatnonzero(lengths <= 4)
    np.testing.assert_allclose(dated._score_users(short), undated._score_users(short), rtol=1e-6)
    # The capped history is what scores: the latest items, not the lowest indices.
    full = dated._score_rows(sp.csr_matrix(dated._weighted_history()[0]), None)
    np.testing.assert_allclose(dated._score_users(np.array([0])), full, rtol=1e-5, atol=1e-6)


def test_a_combination_not_clearly_better_than_its_best_component_falls_back_to_it(data):
    # Every pair of the last 10 days a repeat, repeats counted as new: the ranker and
    # item-kNN alone come out within a hair of each other on the folds.
    interactions = data["interactions"].copy()
    stamps = data["timestamps"].copy()
    late = stamps.data >= stamps.data.max() - 10 * DAY
    interactions.data[late] = 2.0
    interactions.data[~late] = 1.0
    params = {
        "components": [("popularity", {}), ("item_knn", {"k": 10})],
        "validation_days": 10,
        "validation_folds": 1,
        "new_items_only": False,
    }

    model = BlendRecommender(**params).fit(interactions, timestamps=stamps)
    kept = BlendRecommender(**params, compare_components=False).fit(
        interactions, timestamps=stamps
    )

    scores = json.loads(model.selection_)
    best_ranker = max(v for key, v in scores.items() if key.startswith("ranker"))
    assert abs(best_ranker - scores["item_knn"]) < 0.01
    assert model.fallback_.startswith("its best component alone, item_knn")
    if best_ranker > scores["item_knn"]:
        assert "not clearly better" in model.fallback_
    assert [c.name for c in model.components_] == ["item_knn"]
    assert kept.fallback_ is None and len(kept.components_) == 2
