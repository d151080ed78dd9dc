"""The social re-ranker: learned on the blend's folds, guarded, nothing lost without votes."""

from __future__ import annotations

import threading

import numpy as np
import scipy.sparse as sp

from recommendations.engine import load
from recommendations.engine.metrics import ndcg_at_k
from recommendations.engine.social import SocialBlendRecommender
from recommendations.engine.social_rerank import (
    RERANK_FEATURES,
    SocialRerankRecommender,
    candidates,
    newest_items,
    popular_candidates,
    popularity_near,
    ranks_at,
    time_bins,
)
from tests.engine.test_social import alone_scores

DAY = 86_400.0


def follows(n_users: int, edges: list[tuple[int, int]]) -> sp.csr_matrix:
    rows, cols = zip(*edges, strict=True)
    return sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_users))


def niche_data(n_users: int = 200, seed: int = 3):
    """Friends predict the newest items only through their rare items.

    Each user follows 4 others of their group; everyone's newest items are one of their
    group's 5 niche items, which only the group has, while everyone also has a few of
    the 10 best sellers, which the friends' votes favour too: a single weight of the
    votes lifts the best sellers as much as the niche items, an item-level model can
    tell them apart by their popularity.
    """
    rng = np.random.default_rng(seed)
    n_groups, n_items = 10, 10 + 5 * 10 + 40
    group = np.arange(n_users) % n_groups
    dense = np.zeros((n_users, n_items), np.float32)
    stamps = np.zeros((n_users, n_items))
    edges = []
    for user in range(n_users):
        mates = np.flatnonzero(group == group[user])
        friends = rng.choice(mates[mates != user], size=4, replace=False)
        edges += [(user, int(f)) for f in friends]
        old = np.concatenate(
            [rng.choice(10, size=6, replace=False), 50 + rng.choice(40, size=3, replace=False)]
        )
        dense[user, old] = 1.0
        stamps[user, old] = 1.7e9 + rng.uniform(0, 300 * DAY, old.size)
        niche = 10 + 5 * group[user] + rng.choice(5, size=2, replace=False)
        dense[user, niche] = 1.0
        stamps[user, niche] = 1.7e9 + 300 * DAY + rng.uniform(0, 30 * DAY, 2)
    return sp.csr_matrix(dense), sp.csr_matrix(stamps), follows(n_users, edges)


def fit_both(**params):
    interactions, stamps, social = niche_data()
    blend_params = {
        "collaborative": ("ease", {"l2": 10.0}),
        "min_validation_users": 5,
        # One fold of each user's newest 20%: the niche items.
        "validation_folds": 1,
        "validation_fraction": 0.2,
        **params,
    }
    rerank = SocialRerankRecommender(**blend_params).fit(
        interactions, timestamps=stamps, social=social
    )
    blend = SocialBlendRecommender(**blend_params).fit(
        interactions, timestamps=stamps, social=social
    )
    return rerank, blend, interactions, social


def test_the_reranker_is_kept_where_an_item_level_signal_beats_one_weight():
    rerank, _, _, _ = fit_both()

    assert rerank.rerank_weights_.shape == (len(RERANK_FEATURES),)
    assert rerank.rerank_validation_ndcg_ > rerank.blend_validation_ndcg_


def test_a_refused_reranker_leaves_the_blends_scores_exactly():
    rerank, blend, interactions, _ = fit_both()
    rerank.rerank_weights_ = np.zeros(0)  # as the guard leaves it when it refuses
    users = np.arange(interactions.shape[0])

    np.testing.assert_array_equal(rerank._score_users(users), blend._score_users(users))


def test_users_without_votes_get_what_the_blend_gives_them():
    interactions, stamps, social = niche_data()
    social = social.tolil()
    social[:20] = 0
    social = social.tocsr()
    model = SocialRerankRecommender(
        collaborative=("ease", {"l2": 10.0}),
        min_validation_users=5,
        validation_folds=1,
        validation_fraction=0.2,
    ).fit(interactions, timestamps=stamps, social=social)
    alone = np.arange(20)

    assert model.rerank_weights_.size
    np.testing.assert_allclose(model._score_users(alone), alone_scores(model, alone), atol=1e-6)


def test_the_reranker_beats_the_blend_on_held_out_niche_items():
    interactions, stamps, social = niche_data(n_users=300)
    # Every third user's niche items (their newest) are held out; the others keep theirs.
    newest = sp.csr_matrix(stamps > 1.7e9 + 300 * DAY, dtype=np.float32)
    tested = np.arange(interactions.shape[0]) % 3 == 0
    held = sp.diags(tested.astype(np.float32)) @ newest
    train = sp.csr_matrix(interactions - held)
    train.eliminate_zeros()
    train_stamps = sp.csr_matrix(stamps.multiply(train))
    params = {
        "collaborative": ("ease", {"l2": 10.0}),
        "min_validation_users": 5,
        # The newest 20% of all pairs: the other users' niche items.
        "validation": "time",
        "validation_folds": 1,
        "validation_fraction": 0.2,
    }
    users = np.flatnonzero(tested)
    quality = {}
    for klass in (SocialRerankRecommender, SocialBlendRecommender):
        model = klass(**params).fit(train, timestamps=train_stamps, social=social)
        quality[klass] = ndcg_at_k(model.recommend_batch(users, 10)[0], held[users], 10)

    assert quality[SocialRerankRecommender] > quality[SocialBlendRecommender] + 0.05


def test_the_reranker_survives_save_and_load():
    rerank, _, interactions, _ = fit_both()
    loaded = load(rerank.to_bytes())
    users = np.arange(interactions.shape[0])

    np.testing.assert_array_equal(loaded.rerank_weights_, rerank.rerank_weights_)
    np.testing.assert_array_equal(
        loaded.recommend_batch(users, 10)[0], rerank.recommend_batch(users, 10)[0]
    )


def test_an_artifact_of_before_popular_candidates_serves_without_them():
    rerank, _, interactions, _ = fit_both()
    assert rerank.rerank_popular_ == rerank.n_popular > 0
    del rerank.rerank_popular_  # as saved before the parameter

    loaded = load(rerank.to_bytes())

    assert loaded.rerank_popular_ == 0
    rerank.rerank_popular_ = 0
    users = np.arange(interactions.shape[0])
    np.testing.assert_array_equal(
        loaded.recommend_batch(users, 10)[0], rerank.recommend_batch(users, 10)[0]
    )


def test_candidates_are_the_best_open_items_and_the_most_voted_ones():
    base = np.array([[3.0, 2.0, 1.0, 0.0, -np.inf]])
    votes = np.array([[0.0, 0.0, 0.0, 5.0, 9.0]])

    mask = candidates(base, [votes], n_base=2, n_voted=1)

    # The own item (-inf) is never a candidate, however voted.
    np.testing.assert_array_equal(mask, [[True, True, False, True, False]])
    # Each time scale's votes add their own most voted item.
    other = np.array([[0.0, 0.0, 4.0, 1.0, 0.0]])
    mask = candidates(base, [votes, other], n_base=2, n_voted=1)
    np.testing.assert_array_equal(mask, [[True, True, True, True, False]])


def test_voted_candidates_are_every_voted_item_up_to_n_voted_then_the_most_voted():
    base = np.zeros((2, 6))
    votes = np.array([[1.0, 0.0, 2.0, 0.0, 0.0, 0.0], [1.0, 4.0, 2.0, 3.0, 0.0, 0.0]])

    mask = candidates(base, [votes], n_base=0, n_voted=2)

    # Two voted items: both; four: the two most voted. Never an item nobody voted for.
    np.testing.assert_array_equal(
        mask, [[True, False, True, False, False, False], [False, True, False, True, False, False]]
    )


def test_popular_candidates_are_the_open_items_most_popular_near_the_users_time():
    base = np.array([[0.5, -np.inf, 0.1, 0.2], [0.5, 0.4, 0.1, 0.2]])
    near = np.array([[[9.0, 8.0, 1.0, 3.0], [0.0, 2.0, 5.0, 1.0]]])  # (scales, rows, items)
    popularity = np.array([1.0, 4.0, 3.0, 2.0])

    around = popular_candidates(base, near, popularity, 2)
    overall = popular_candidates(base, None, popularity, 2)

    # The own item (-inf) is never one, however popular.
    np.testing.assert_array_equal(around, [[1, 0, 0, 1], [0, 1, 1, 0]])
    np.testing.assert_array_equal(overall, [[0, 0, 1, 1], [0, 1, 1, 0]])
    assert not popular_candidates(base, near, popularity, 0).any()


def test_ranks_at_counts_the_entries_above():
    scores = np.array([[0.5, 0.9, 0.1], [1.0, 1.0, 0.0]])
    rows, items = np.array([0, 0, 1, 1]), np.array([0, 2, 1, 2])

    np.testing.assert_array_equal(ranks_at(scores, rows, items), [1, 2, 0, 2])


def test_newest_items_keep_each_rows_latest():
    history = sp.csr_matrix(np.array([[1, 1, 1, 0], [0, 1, 0, 1]], np.float32))
    times = sp.csr_matrix(np.array([[5, 3, 9, 0], [0, 2, 0, 1]], np.float64))

    kept = newest_items(history, times, 2).toarray()

    np.testing.assert_array_equal(kept, [[1, 0, 1, 0], [0, 1, 0, 1]])


def test_popularity_near_a_time_counts_the_items_of_that_period_most():
    times = sp.csr_matrix(np.array([[1.0e9, 0.0], [1.0e9, 0.0], [0.0, 1.2e9]]))
    counts, first = time_bins(times)

    near = popularity_near(counts, first, np.array([1.0e9, 1.2e9]), 30.0)

    assert near[0, 0] > near[0, 1] and near[1, 1] > near[1, 0]


def test_a_segment_the_guard_refused_keeps_the_blends_scores():
    rerank, blend, interactions, _ = fit_both()
    assert rerank.rerank_weights_.size
    rerank.rerank_cold_, rerank.rerank_warm_ = True, False
    users = np.arange(interactions.shape[0])
    warm = np.diff(interactions.indptr)[users] > rerank.cold_items

    scores, unchanged = rerank._score_users(users), blend._score_users(users)

    assert warm.all()  # the niche data have no cold user: every one is refused
    np.testing.assert_array_equal(scores[warm], unchanged[warm])
    rerank.rerank_warm_ = True
    assert not np.array_equal(rerank._score_users(users), unchanged)


def test_a_user_folded_in_with_their_follows_is_reranked_like_a_known_one():
    rerank, _, interactions, social = fit_both()
    user = 7
    assert rerank.rerank_warm_

    folded, _ = rerank.recommend_interactions(interactions[user], 5, social_row=social[user])
    known, _ = rerank.recommend(user, 5)

    # Judged at the end of training rather than at their newest item, and from their
    # whole history rather than its newest items: most of the list is the same.
    assert len(set(folded.tolist()) & set(known.tolist())) >= 3


def test_folds_measured_at_once_learn_what_folds_measured_in_turn(monkeypatch):
    interactions, stamps, social = niche_data()
    params = {
        "collaborative": ("ease", {"l2": 10.0}),
        "validation_folds": 3,
        "min_validation_users": 5,
    }
    learned_on = []  # what each fit's re-ranker learns on, fold by fold
    learn = SocialRerankRecommender._learn_reranker

    def recording(self):
        learned_on.append([int(f.relevant.indices.sum()) for f in self._folds])
        return learn(self)

    monkeypatch.setattr(SocialRerankRecommender, "_learn_reranker", recording)
    monkeypatch.setattr("recommendations.engine.social.FOLD_THREADS", 1)
    in_turn = SocialRerankRecommender(**params).fit(interactions, timestamps=stamps, social=social)
    # Two at once, and fold 0 ends only after fold 1: the folds finish out of order.
    monkeypatch.setattr("recommendations.engine.social.FOLD_THREADS", 2)
    first_done, original = threading.Event(), SocialRerankRecommender._fold_quality
    finished = []

    def out_of_order(self, *args, fold, **kwargs):
        if fold == 0:
            assert first_done.wait(timeout=60)
        result = original(self, *args, fold=fold, **kwargs)
        finished.append(fold)
        if fold == 1:
            first_done.set()
        return result

    monkeypatch.setattr(SocialRerankRecommender, "_fold_quality", out_of_order)
    at_once = SocialRerankRecommender(**params).fit(interactions, timestamps=stamps, social=social)

    assert finished.index(1) < finished.index(0)
    assert learned_on[1] == learned_on[0]  # the folds in their order
    assert len(set(learned_on[0])) == 3  # which tells them apart
    assert in_turn.rerank_validation_ndcg_ is not None  # the folds were measured
    for name in ("weight_", "cold_weight_", "recency_days_", "rerank_cold_", "rerank_warm_"):
        assert getattr(at_once, name) == getattr(in_turn, name), name
    np.testing.assert_allclose(at_once.validation_curve_, in_turn.validation_curve_, atol=1e-6)
    np.testing.assert_allclose(
        at_once.rerank_weights_, in_turn.rerank_weights_, rtol=1e-4, atol=1e-6
    )
