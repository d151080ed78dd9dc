"""What one account may add to the item statistics (recommendations.trust)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from recommendations.adapters import EventArrays
from recommendations.trust import item_statistics, trusted_rows, user_trust

PURCHASE, VIEW = 0, 1


def _events(rows: list[tuple[int, int, float, float, int]]) -> EventArrays:
    users, items, weights, times, sources = (
        np.asarray(column) for column in zip(*rows, strict=True)
    )
    return EventArrays(
        user_pk=users,
        item_pk=items,
        weight=weights.astype(np.float64),
        time=times.astype(np.float64),
        source=sources.astype(np.int8),
        sources=("purchase", "view"),
    )


def _trust_settings(settings, **trust):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "TRUST": trust}


def test_accounts_without_a_purchase_get_the_no_purchase_weight(settings):
    _trust_settings(settings, NO_PURCHASE_WEIGHT=0.25)
    events = _events([(0, 0, 1.0, 1, PURCHASE), (1, 0, 0.2, 1, VIEW), (2, 1, 0.2, 1, VIEW)])

    trust = user_trust(events, events.user_pk, 3)

    np.testing.assert_allclose(trust, [1.0, 0.25, 0.25])


def test_with_the_defences_off_everyone_counts_fully(settings):
    _trust_settings(settings, ENABLED=False)
    events = _events([(0, 0, 1.0, 1, PURCHASE), (1, 0, 0.2, 1, VIEW)])

    assert user_trust(events, events.user_pk, 2).tolist() == [1.0, 1.0]


def test_repeated_events_saturate_and_a_view_weighs_less_than_a_purchase(settings):
    _trust_settings(settings)
    # User 0 views item 0 fifty times and buys item 1 three times.
    rows = [(0, 0, 0.2, t, VIEW) for t in range(50)] + [
        (0, 1, 1.0, t, PURCHASE) for t in (5, 9, 7)
    ]
    events = _events(rows)

    votes, latest = item_statistics(events, events.user_pk, events.item_pk, np.ones(1), n_items=2)

    np.testing.assert_allclose(votes.toarray(), [[0.2, 1.0]], rtol=1e-6)
    assert latest.toarray().tolist() == [[49.0, 9.0]]


def test_untrusted_votes_are_scaled_and_a_busy_account_shares_its_budget(settings):
    _trust_settings(settings, MAX_ITEMS_PER_USER=4)
    rows = [(0, item, 1.0, 1, PURCHASE) for item in range(8)] + [(1, 0, 1.0, 1, VIEW)]
    events = _events(rows)

    votes, _ = item_statistics(
        events, events.user_pk, events.item_pk, np.array([1.0, 0.1]), n_items=8
    )

    assert votes[0].sum() == pytest.approx(4.0, rel=1e-6)
    assert votes[1, 0] == pytest.approx(0.1, rel=1e-6)


def test_only_the_given_sources_vote(settings):
    _trust_settings(settings)
    events = _events([(0, 0, 1.0, 1, PURCHASE), (0, 1, 0.2, 1, VIEW)])

    votes, _ = item_statistics(
        events, events.user_pk, events.item_pk, np.ones(1), n_items=2, codes=np.array([PURCHASE])
    )

    assert votes.toarray().tolist() == [[1.0, 0.0]]


def test_untrusted_rows_are_emptied_with_their_times():
    matrix = sp.csr_matrix(np.array([[1.0, 0.0], [1.0, 1.0]], dtype=np.float32))
    times = sp.csr_matrix(np.array([[5.0, 0.0], [6.0, 7.0]]))

    kept, kept_times = trusted_rows(matrix, times, np.array([0.1, 1.0]))

    assert kept.toarray().tolist() == [[0.0, 0.0], [1.0, 1.0]]
    assert kept_times.toarray().tolist() == [[0.0, 0.0], [6.0, 7.0]]


def test_rows_are_kept_when_nobody_is_fully_trusted():
    matrix = sp.csr_matrix(np.eye(2, dtype=np.float32))

    kept, _ = trusted_rows(matrix, sp.csr_matrix(np.eye(2)), np.array([0.1, 0.1]))

    assert kept is matrix
