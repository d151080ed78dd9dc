"""``explain_batch`` gives, item by item, what ``explain`` gives (to float32 rounding)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.engine import Recommender
from tests.engine.test_contract import (
    N_ITEMS,
    NAMES,
    NON_PERSONAL,
    fitted,
    random_interactions,
)
from tests.floats import FLOAT32_ATOL, FLOAT32_RTOL


@pytest.fixture(scope="module", params=NAMES)
def model(request) -> Recommender:
    return fitted(request.param)


def _shares(pairs):
    return pytest.approx([share for _, share in pairs], rel=FLOAT32_RTOL, abs=FLOAT32_ATOL)


def assert_same(batch, single, full):
    """Each item's explanation is ``explain``'s up to float32 rounding.

    The shares are equal in order, and every (item, share) pair is one of ``full`` (the
    item's whole explanation): items whose shares tie within rounding may trade places,
    or membership at the cut, since another CPU's arithmetic may break the tie otherwise.
    """
    assert len(batch) == len(single) == len(full)
    for got, expected, every in zip(batch, single, full, strict=True):
        assert [share for _, share in got] == _shares(expected)
        assert len({item for item, _ in got}) == len(got)
        true_shares = dict(every)
        assert [share for _, share in got] == _shares(
            [(item, true_shares.get(item, -1.0)) for item, _ in got]
        )


@pytest.mark.parametrize("n", [1, 3])
def test_explain_batch_equals_explain_per_item_for_a_training_user(model, n):
    items = list(range(N_ITEMS))
    explained = 0
    for user in (0, 3, 7):
        single = [model.explain(item, user_id=user, n=n) for item in items]
        full = [model.explain(item, user_id=user, n=N_ITEMS) for item in items]
        assert_same(model.explain_batch(items, user_id=user, n=n), single, full)
        explained += sum(bool(pairs) for pairs in single)
    if model.name not in NON_PERSONAL:
        assert explained > 0  # the comparison is not only between empty lists


def test_explain_batch_equals_explain_for_an_ad_hoc_row_in_the_given_order(model):
    row = sp.csr_matrix(random_interactions(seed=5)[2])
    items = [9, 0, 4, 9, 17]
    single = [model.explain(item, interactions=row, n=2) for item in items]
    full = [model.explain(item, interactions=row, n=N_ITEMS) for item in items]
    assert_same(model.explain_batch(items, interactions=row, n=2), single, full)


def test_explain_batch_of_an_empty_history_or_no_items(model):
    empty = sp.csr_matrix((1, N_ITEMS), dtype=np.float32)
    assert model.explain_batch([1, 2], interactions=empty) == [[], []]
    assert model.explain_batch([], user_id=0) == []


def test_explain_batch_validates_like_explain(model):
    with pytest.raises(ValueError, match="item_ids"):
        model.explain_batch([0, N_ITEMS], user_id=0)
    with pytest.raises(ValueError, match="exactly one"):
        model.explain_batch([0])
    with pytest.raises(ValueError):
        model.explain_batch([0], user_id=0, n=0)
