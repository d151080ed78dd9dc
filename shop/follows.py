"""The demo's labelled sample follow graph (a shop's own graph loads with the app's
``import_follows`` command).

Written in one transaction through the app's :func:`follows_create`, which leaves
existing follows as they are and tells serving once per follower whose follows changed.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from django.db import transaction

from recommendations.follows_import import FollowsReport, follows_create
from shop.models import Follow, Order, OrderLine

# Sample graph: each customer follows this many of their closest tastes (at most).
SAMPLE_FOLLOWS_PER_CUSTOMER = 3
# ... drawn at random from this many closest, so the graph is not taste alone.
SAMPLE_CANDIDATES = 20


def sample_social_graph_create(*, seed: int = 0) -> FollowsReport:
    """The demo's synthetic graph: each customer with orders follows up to 3 customers,
    drawn at random from the 20 whose purchases overlap theirs most. Labelled
    ``is_sample``; made once (nothing is written while sample follows exist)."""
    if Follow.objects.filter(is_sample=True).exists():
        return FollowsReport()
    lines = OrderLine.objects.filter(
        order__user__isnull=False, order__status=Order.Status.PLACED
    ).values_list("order__user_id", "product_id")
    pairs = np.array(list(lines.distinct().order_by()), dtype=np.int64).reshape(-1, 2)
    if not pairs.size:
        return FollowsReport()
    users, user_rows = np.unique(pairs[:, 0], return_inverse=True)
    _items, item_cols = np.unique(pairs[:, 1], return_inverse=True)
    bought = sp.csr_matrix(
        (np.ones(len(pairs), dtype=np.float32), (user_rows, item_cols)),
        shape=(users.size, _items.size),
    )
    overlap = sp.csr_matrix(bought @ bought.T)
    overlap.setdiag(0)
    overlap.eliminate_zeros()
    rng = np.random.default_rng(seed)
    follows = []
    for row in range(users.size):
        start, end = overlap.indptr[row], overlap.indptr[row + 1]
        if start == end:
            continue
        closest = overlap.indices[start:end][np.argsort(-overlap.data[start:end], kind="stable")]
        candidates = closest[:SAMPLE_CANDIDATES]
        size = min(SAMPLE_FOLLOWS_PER_CUSTOMER, candidates.size)
        chosen = rng.choice(candidates, size=size, replace=False)
        follows += [(int(users[row]), int(users[other])) for other in chosen]
    with transaction.atomic():
        return follows_create(follows, fields={"is_sample": True})
