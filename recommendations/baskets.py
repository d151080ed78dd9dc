"""Purchases grouped into baskets (orders): what "bought together" learns from.

A basket is one order: the purchase events that share a key of the source's
``GROUP_FIELD`` (``"order"`` for order lines). A source without one has its
baskets guessed: one account's purchases less than ``BASKET_GAP_SECONDS`` apart, each
from the one before, are one basket (the lines of an order are written at once).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from recommendations.adapters import EventArrays
from recommendations.conf import PURCHASE, app_settings

#: Purchases of one account closer together than this (each to the one before) are one
#: basket when their source has no GROUP_FIELD.
BASKET_GAP_SECONDS = 60.0


def basket_sources(events: EventArrays) -> np.ndarray:
    """Codes of the sources whose events fill baskets: the purchases (``ROLE``
    ``"purchase"``), else the ``EVALUATION_SOURCES``."""
    names = set(app_settings.source_names(PURCHASE) or app_settings.EVALUATION_SOURCES)
    return np.asarray([code for code, name in enumerate(events.sources) if name in names])


def _guessed_baskets(users: np.ndarray, times: np.ndarray) -> np.ndarray:
    """A basket number for each event: one user's events within the gap of the previous."""
    order = np.lexsort((times, users))
    new = np.ones(users.size, dtype=bool)
    if users.size > 1:
        same_user = users[order][1:] == users[order][:-1]
        close = np.diff(times[order]) <= BASKET_GAP_SECONDS
        new[1:] = ~(same_user & close)
    baskets = np.empty(users.size, dtype=np.int64)
    baskets[order] = np.cumsum(new) - 1
    return baskets


def basket_matrix(
    events: EventArrays,
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    trust: np.ndarray | None,
    *,
    n_items: int,
) -> sp.csr_matrix:
    """Baskets x items: each item bought in a basket, weighted by the trust of its buyer.

    ``user_idx`` and ``item_idx`` give each event's row and column in the batch's
    matrices; ``trust`` (:func:`recommendations.trust.user_trust`, None: everyone) weighs
    each user's baskets, and an account trusted less than fully weighs nothing: a
    handful of sign-ups cannot tie two products together. Quantities and repeated
    lines of an item count once. Baskets of nobody trusted are left out, so the matrix
    may have no rows.
    """
    bought = np.isin(events.source, basket_sources(events)) & (events.weight > 0)
    if trust is not None:
        bought &= trust[user_idx] >= 1.0
    users, items = user_idx[bought], item_idx[bought]
    groups = (
        np.full(users.size, -1, dtype=np.int64) if events.group is None else events.group[bought]
    )
    ungrouped = groups < 0
    if ungrouped.any():
        guessed = _guessed_baskets(users[ungrouped], events.time[bought][ungrouped])
        groups = groups.copy()
        groups[ungrouped] = int(groups.max(initial=-1)) + 1 + guessed
    baskets, rows = np.unique(groups, return_inverse=True)
    weights = np.ones(baskets.size)
    if trust is not None:
        # Every event of a basket is its buyer's: any of them gives the basket's trust.
        weights[rows] = trust[users]
    matrix = sp.csr_matrix(
        (np.ones(rows.size, dtype=np.float32), (rows, items)), shape=(baskets.size, n_items)
    )
    matrix.sum_duplicates()
    matrix.data = np.repeat(weights, np.diff(matrix.indptr)).astype(np.float32)
    return matrix
