"""Ranking metrics, the evaluation loop and the splits, against hand-computed values."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine import PopularityRecommender
from recommendations.engine.metrics import (
    coverage_at_k,
    evaluate,
    evaluate_per_user,
    ndcg_at_k,
    ndcg_per_user,
    paired_bootstrap,
    recall_at_k,
)
from recommendations.engine.split import holdout_new_items, temporal_split, window_end

# Row 0 hits item 1 at rank 2 (relevant {1, 9}); row 1 hits item 6 at rank 4
# (relevant {6}); row 2 has nothing relevant and is left out of the averages.
RANKED = np.array([[3, 1, 2, -1], [0, 5, 4, 6], [7, 8, 9, 0]])
RELEVANT = sp.csr_matrix((np.ones(3), ([0, 0, 1], [1, 9, 6])), shape=(3, 10), dtype=np.float32)


def log2(x: float) -> float:
    return float(np.log2(x))


def test_recall_divides_hits_by_the_smaller_of_k_and_relevant_count():
    assert recall_at_k(RANKED, RELEVANT, 3) == pytest.approx((1 / 2 + 0) / 2)
    assert recall_at_k(RANKED, RELEVANT, 4) == pytest.approx((1 / 2 + 1 / 1) / 2)


def test_ndcg_uses_binary_gains_and_an_ideal_of_min_k_relevant():
    row0 = (1 / log2(3)) / (1 + 1 / log2(3))
    assert ndcg_at_k(RANKED, RELEVANT, 3) == pytest.approx(row0 / 2)
    row1 = 1 / log2(5)
    assert ndcg_at_k(RANKED, RELEVANT, 4) == pytest.approx((row0 + row1) / 2)


def test_a_perfect_ranking_scores_one():
    assert ndcg_at_k([[6, 1]], RELEVANT[1], 2) == pytest.approx(1.0)
    assert recall_at_k([[9, 1, 0]], RELEVANT[0], 3) == pytest.approx(1.0)


def test_coverage_counts_distinct_items_in_the_top_k_ignoring_padding():
    assert coverage_at_k(RANKED, 10, 2) == pytest.approx(6 / 10)
    assert coverage_at_k(RANKED, 10, 3) == pytest.approx(9 / 10)
    assert coverage_at_k(RANKED, 10, 4) == pytest.approx(1.0)
    assert coverage_at_k([[-1, -1]], 5, 2) == 0.0


def test_metrics_reject_bad_arguments():
    with pytest.raises(ValueError, match="k must be"):
        recall_at_k(RANKED, RELEVANT, 0)
    with pytest.raises(ValueError, match="rows"):
        ndcg_at_k(RANKED[:2], RELEVANT, 3)
    with pytest.raises(ValueError, match="no row"):
        ndcg_at_k(RANKED, sp.csr_matrix((3, 10)), 3)
    with pytest.raises(ValueError, match="2-D"):
        coverage_at_k(np.array([1, 2]), 10, 3)


def tiny_split() -> tuple[sp.csr_matrix, sp.csr_matrix]:
    train = sp.csr_matrix(
        (np.ones(7), ([0, 0, 1, 1, 2, 2, 2], [0, 1, 0, 2, 0, 1, 3])),
        shape=(4, 5),
        dtype=np.float32,
    )
    test = sp.csr_matrix(
        (np.ones(4), ([0, 0, 1, 3], [2, 1, 4, 0])), shape=(4, 5), dtype=np.float32
    )
    return train, test


def test_holdout_keeps_new_items_of_known_users_only():
    train, test = tiny_split()
    kept = holdout_new_items(train, test)
    # User 0's item 1 was bought in train; user 3 has no training event.
    np.testing.assert_array_equal(
        kept.toarray(),
        [[0, 0, 1, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]],
    )
    with pytest.raises(ValueError, match="shape"):
        holdout_new_items(train, test[:3])


def test_evaluate_popularity_on_a_tiny_split():
    train, test = tiny_split()
    test = holdout_new_items(train, test)
    recommender = PopularityRecommender().fit(train)
    # Popularity: item 0 (3 users), 1 (2), 2 and 3 (1 each; lower index first), 4 (0).
    # User 0 (has 0, 1) gets [2, 3]: hit at rank 1. User 1 (has 0, 2) gets [1, 3]: miss.
    result = evaluate(recommender, train, test, k=2)
    assert result == {
        "recall": pytest.approx(0.5),
        "ndcg": pytest.approx(0.5),
        "coverage": pytest.approx(3 / 5),
        "users": 2,
    }
    only_first = evaluate(recommender, train, test, k=2, users=[0], batch_size=1)
    assert only_first["ndcg"] == pytest.approx(1.0) and only_first["users"] == 1


def test_evaluate_refuses_a_recommender_fitted_on_other_data():
    train, test = tiny_split()
    recommender = PopularityRecommender().fit(train[:3])
    with pytest.raises(ValueError, match="fitted on shape"):
        evaluate(recommender, train, test)


def test_temporal_split_puts_the_cutoff_itself_in_test():
    times = [10.0, 20.0, 30.0, 40.0]
    train, test = temporal_split([0, 1, 2, 3], [0, 0, 1, 1], times, cutoff=30)
    np.testing.assert_array_equal(train, [True, True, False, False])
    np.testing.assert_array_equal(test, ~train)


def test_temporal_split_accepts_datetimes_and_dates():
    cutoff = dt.datetime(2011, 11, 1, tzinfo=dt.UTC)
    times = [cutoff.timestamp() - 1, cutoff.timestamp(), cutoff.timestamp() + 1]
    for value in (cutoff, cutoff.replace(tzinfo=None), cutoff.date()):
        train, _ = temporal_split([0, 0, 0], [0, 1, 2], times, cutoff=value)
        np.testing.assert_array_equal(train, [True, False, False])


def test_temporal_split_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="same length"):
        temporal_split([0, 1], [0], [1.0, 2.0], cutoff=1.5)


def test_per_user_ndcg_averages_to_the_mean_and_skips_rows_without_relevant_items():
    per_user = ndcg_per_user(RANKED, RELEVANT, 4)
    assert per_user.shape == (2,)
    assert per_user.mean() == pytest.approx(ndcg_at_k(RANKED, RELEVANT, 4))


def test_evaluate_per_user_is_aligned_with_the_scored_users():
    train, test = tiny_split()
    model = PopularityRecommender().fit(train)
    scores = evaluate_per_user(model, train, test, k=2)
    assert scores["users"].size == scores["ndcg"].size == scores["recall"].size
    assert evaluate(model, train, test, k=2)["ndcg"] == pytest.approx(scores["ndcg"].mean())


def test_a_paired_bootstrap_separates_a_clear_gain_from_noise():
    rng = np.random.default_rng(1)
    old = rng.uniform(0, 1, size=400)
    clear = old + 0.05 + rng.normal(0, 0.02, size=400)
    mean, low, high = paired_bootstrap(clear, old)
    assert low > 0 and low <= mean <= high
    noise = old + rng.normal(0, 0.2, size=400)
    _, low, high = paired_bootstrap(noise, old)
    assert low < 0 < high
    # One lucky user makes the mean higher, not the interval above zero.
    lucky = old.copy()
    lucky[0] += 0.9
    mean, low, _ = paired_bootstrap(lucky, old)
    assert mean > 0 and low <= 0
    assert paired_bootstrap(lucky, old) == paired_bootstrap(lucky, old)


def test_a_paired_bootstrap_rejects_unpaired_values():
    with pytest.raises(ValueError, match="paired"):
        paired_bootstrap([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="No paired"):
        paired_bootstrap([], [])


DAY = 86_400.0


def test_window_end_skips_a_quiet_stretch_before_a_trickle_of_new_events():
    users = np.r_[np.arange(30), 99]
    times = np.r_[np.linspace(0, 20 * DAY, 30), 5000 * DAY]
    assert window_end(users, times, days=30, min_users=10) == pytest.approx(20 * DAY)
    # Enough users at the end: the window ends at the newest event.
    assert window_end(users, times, days=30, min_users=1) == pytest.approx(5000 * DAY)
    # Nobody first seen before any window: the best window, else None.
    first_seen = np.full(100, np.inf)
    first_seen[users] = times
    assert window_end(users, times, days=30, min_users=10, first_seen=first_seen) is None
    assert window_end([], [], days=30, min_users=1) is None
