"""Building the weight and latest-time matrices from raw events."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine.interactions import apply_weighting, build_interactions

DAY = 86_400.0


def test_duplicate_events_are_summed_into_one_cell():
    weights, latest = build_interactions(
        [0, 0, 1, 0], [1, 1, 2, 0], [1.0, 2.0, 1.5, 4.0], n_users=3, n_items=4
    )
    assert isinstance(weights, sp.csr_matrix) and weights.dtype == np.float32
    assert latest is None
    np.testing.assert_array_equal(
        weights.toarray(),
        [[4.0, 3.0, 0.0, 0.0], [0.0, 0.0, 1.5, 0.0], [0.0, 0.0, 0.0, 0.0]],
    )


def test_latest_time_of_each_pair_is_kept_with_the_same_sparsity():
    weights, latest = build_interactions(
        [0, 0, 1, 0],
        [1, 1, 2, 0],
        [1.0, 1.0, 1.0, 1.0],
        n_users=2,
        n_items=3,
        times=[500.0, 100.0, 300.0, 50.0],
    )
    assert latest.dtype == np.float64
    np.testing.assert_array_equal(latest.toarray(), [[50.0, 500.0, 0.0], [0.0, 0.0, 300.0]])
    np.testing.assert_array_equal(latest.indices, weights.indices)
    np.testing.assert_array_equal(latest.indptr, weights.indptr)


def test_decay_halves_an_event_one_half_life_old():
    now = 100 * DAY
    weights, _ = build_interactions(
        [0, 0, 0],
        [0, 1, 1],
        [1.0, 1.0, 2.0],
        n_users=1,
        n_items=2,
        times=[now, now - 2 * DAY, now - 4 * DAY],
        half_life_days=2.0,
        now=now,
    )
    np.testing.assert_allclose(weights.toarray(), [[1.0, 0.5 + 2.0 * 0.25]], rtol=1e-6)


def test_decay_is_measured_from_the_latest_event_by_default():
    weights, _ = build_interactions(
        [0, 1], [0, 0], [1.0, 1.0], n_users=2, n_items=1, times=[0.0, 3 * DAY], half_life_days=3
    )
    np.testing.assert_allclose(weights.toarray().ravel(), [0.5, 1.0], rtol=1e-6)


def test_pairs_whose_weights_sum_to_zero_are_dropped():
    weights, latest = build_interactions(
        [0, 1], [0, 1], [0.0, 1.0], n_users=2, n_items=2, times=[10.0, 20.0]
    )
    assert weights.nnz == latest.nnz == 1
    assert weights[1, 1] == 1.0


def test_no_events_give_an_empty_matrix_of_the_requested_shape():
    weights, latest = build_interactions([], [], [], n_users=3, n_items=2, times=[])
    assert weights.shape == latest.shape == (3, 2)
    assert weights.nnz == 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"user_idx": [0, 1], "item_idx": [0], "weights": [1, 1]}, "same length"),
        ({"user_idx": [0, 5], "item_idx": [0, 0], "weights": [1, 1]}, "user_idx contains"),
        ({"user_idx": [0, 0], "item_idx": [0, -1], "weights": [1, 1]}, "item_idx contains"),
        ({"user_idx": [0, 1], "item_idx": [0, 0], "weights": [1, np.nan]}, "NaN"),
        ({"user_idx": [0, 1], "item_idx": [0, 0], "weights": [1, np.inf]}, "NaN or infinite"),
        ({"user_idx": [0, 1], "item_idx": [0, 0], "weights": [1, -2]}, "negative"),
        ({"user_idx": [0.5], "item_idx": [0], "weights": [1]}, "integer"),
        ({"user_idx": [0], "item_idx": [0], "weights": [1], "n_users": -1}, "n_users"),
        ({"user_idx": [0], "item_idx": [0], "weights": [1], "times": [1, 2]}, "times has"),
        ({"user_idx": [0], "item_idx": [0], "weights": [1], "times": [np.nan]}, "times"),
        ({"user_idx": [0], "item_idx": [0], "weights": [1], "half_life_days": 3}, "needs times"),
        (
            {"user_idx": [0], "item_idx": [0], "weights": [1], "times": [0], "half_life_days": 0},
            "positive",
        ),
    ],
)
def test_bad_events_raise_a_clear_value_error(kwargs, message):
    arguments = {"n_users": 2, "n_items": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_interactions(
            arguments.pop("user_idx"),
            arguments.pop("item_idx"),
            arguments.pop("weights"),
            **arguments,
        )


def test_weighting_transforms_only_the_stored_weights():
    matrix = sp.csr_matrix(np.array([[0.0, 3.0], [1.0, 0.0]], dtype=np.float32))
    np.testing.assert_array_equal(apply_weighting(matrix, "binary").toarray(), [[0, 1], [1, 0]])
    np.testing.assert_allclose(
        apply_weighting(matrix, "log").toarray(), [[0, np.log(4)], [np.log(2), 0]], rtol=1e-6
    )
    assert apply_weighting(matrix, "raw") is matrix
    assert matrix[0, 1] == 3.0
    with pytest.raises(ValueError, match="weighting must be one of"):
        apply_weighting(matrix, "sqrt")
