"""Fits shared within a training, progress from inside the blend, repeats under decay."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine.blend import BlendRecommender, repeated_pairs
from recommendations.engine.cache import shared_fits
from recommendations.engine.ease import EASERecommender
from recommendations.engine.interactions import build_interactions
from recommendations.engine.itemknn import ItemKNNRecommender
from recommendations.engine.progress import progress_reporting
from tests.engine.test_content import grouped_purchases

DAY = 86_400.0
COMPONENTS = [["ease", {"recency_half_life_days": 120.0}], ["item_knn", {"k": 10}]]


@pytest.fixture(scope="module")
def data() -> dict:
    return grouped_purchases(n_users=120)


def test_inside_shared_fits_an_ease_with_another_history_setting_reuses_the_weights(data):
    interactions, stamps = data["interactions"], data["timestamps"]
    with shared_fits() as cache:
        plain = EASERecommender(l2=50.0).fit(interactions, timestamps=stamps)
        recency = EASERecommender(l2=50.0, recency_half_life_days=30.0, max_history=5).fit(
            interactions, timestamps=stamps
        )
        other_l2 = EASERecommender(l2=80.0).fit(interactions, timestamps=stamps)
        other_events = EASERecommender(l2=50.0).fit(interactions[:60], timestamps=stamps[:60])
    assert recency.weights_ is plain.weights_
    assert other_l2.weights_ is not plain.weights_
    assert other_events.weights_ is not plain.weights_
    assert (cache.hits, cache.misses) == (1, 3)
    # Outside the block every fit solves again, to the same weights.
    alone = EASERecommender(l2=50.0).fit(interactions, timestamps=stamps)
    assert alone.weights_ is not plain.weights_
    np.testing.assert_allclose(alone.weights_, plain.weights_, rtol=1e-6, atol=1e-7)


def test_a_blend_with_shared_fits_ranks_as_without_them(data):
    interactions, stamps = data["interactions"], data["timestamps"]
    params = {"components": COMPONENTS, "validation_folds": 2, "compare_components": False}
    alone = BlendRecommender(**params).fit(interactions, timestamps=stamps)
    with shared_fits() as cache:
        EASERecommender().fit(interactions, timestamps=stamps)
        shared = BlendRecommender(**params).fit(interactions, timestamps=stamps)
    # The blend's final EASE is the standalone one's.
    assert cache.hits >= 1
    users = np.arange(60)
    np.testing.assert_allclose(
        shared._score_users(users), alone._score_users(users), rtol=1e-5, atol=1e-5
    )


def test_a_blend_reports_each_component_fit_up_to_the_whole(data):
    shares: list[tuple[float, str]] = []
    with progress_reporting(lambda share, what: shares.append((share, what))):
        BlendRecommender(components=COMPONENTS, validation_folds=2).fit(
            data["interactions"], timestamps=data["timestamps"]
        )
    values = [share for share, _ in shares]
    # Two components on each of two validation periods, then on all events.
    assert len(values) == 6 and values == sorted(values) and values[-1] == pytest.approx(1.0)
    assert shares[0][1] == "ease on a validation fold" and shares[-1][1].endswith("all events")


def decayed(events: list[tuple[int, int, float]], now: float) -> tuple:
    users, items, days = (np.array(column) for column in zip(*events, strict=True))
    return build_interactions(
        users, items, np.ones(users.size), n_users=int(users.max()) + 1,
        n_items=int(items.max()) + 1, times=days * DAY, half_life_days=180.0, now=now,
    )  # fmt: skip


def test_repeats_are_found_in_weights_decayed_by_age():
    rng = np.random.default_rng(0)
    events, repeats = [], set()
    for user in range(200):
        items = rng.choice(50, size=4, replace=False)
        for item in items:
            day = float(rng.integers(0, 360))
            events.append((user, int(item), day))
            if rng.random() < 0.3:
                # Bought again later (or the same day): a repeat, at its latest time.
                events.append((user, int(item), float(rng.integers(day, 361))))
                repeats.add((user, int(item)))
    matrix, times = decayed(events, now=361 * DAY)

    found = repeated_pairs(matrix, times)

    rows, columns = matrix.nonzero()
    flagged = {(r, c) for r, c, v in zip(rows, columns, found.data, strict=True) if v}
    assert flagged == repeats
    # The lightest pair of all calls nearly every recent single purchase a repeat.
    assert (matrix.data > matrix.data.min() * 1.02).sum() > 2 * len(repeats)


def test_without_decay_a_repeat_is_a_pair_heavier_than_one_event():
    matrix = sp.csr_matrix(np.array([[1.0, 2.0, 0.0], [3.0, 1.0, 1.0]], dtype=np.float32))
    times = sp.csr_matrix(matrix, dtype=np.float64)
    times.data = 1.7e9 + np.arange(times.nnz) * DAY

    assert repeated_pairs(matrix, times).toarray().tolist() == [[0, 1, 0], [1, 0, 0]]
    assert repeated_pairs(matrix, None).toarray().tolist() == [[0, 1, 0], [1, 0, 0]]


def test_inside_shared_fits_an_item_knn_with_another_history_setting_reuses_the_similarities(
    data,
):
    interactions, stamps = data["interactions"], data["timestamps"]
    with shared_fits():
        plain = ItemKNNRecommender(k=10).fit(interactions, timestamps=stamps)
        recency = ItemKNNRecommender(k=10, recency_half_life_days=30.0).fit(
            interactions, timestamps=stamps
        )
        other_k = ItemKNNRecommender(k=5).fit(interactions, timestamps=stamps)
    assert recency.similarity_ is plain.similarity_
    assert other_k.similarity_ is not plain.similarity_
    alone = ItemKNNRecommender(k=10).fit(interactions, timestamps=stamps)
    assert (alone.similarity_ != plain.similarity_).nnz == 0
