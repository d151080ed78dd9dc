"""Follow graphs in bulk: a shop's own graph from CSV, and the demo's labelled sample.

Both write in one transaction and leave existing follows as they are, so a second run
changes nothing. Rows are written in bulk; the recommendations app is then told once
per follower whose follows changed, so their lists count the new people at once.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from django.contrib.auth import get_user_model
from django.db import transaction

from recommendations.privacy import user_cache_delete
from recommendations.services import social_changed
from shop.models import CustomerProfile, Follow, Order, OrderLine

COLUMNS = ("user", "followed")
# Sample graph: each customer follows this many of their closest tastes (at most).
SAMPLE_FOLLOWS_PER_CUSTOMER = 3
# ... drawn at random from this many closest, so the graph is not taste alone.
SAMPLE_CANDIDATES = 20


class FollowsImportError(ValueError):
    """A row of a follows file cannot be imported; nothing was written."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"Line {line}: {message}")
        self.line = line


@dataclass
class FollowsReport:
    """What an import or the sample graph wrote."""

    rows: int = 0
    created: int = 0
    existing: int = 0


def _users_by_reference(references: set[str]) -> dict[str, int]:
    """User keys by reference: a customer number (the data set's CustomerID) or a username."""
    found = dict(
        CustomerProfile.objects.filter(external_id__in=references).values_list(
            "external_id", "user_id"
        )
    )
    rest = references - found.keys()
    found.update(
        get_user_model()
        .objects.filter(username__in=rest)
        .values_list(get_user_model().USERNAME_FIELD, "pk")
    )
    return found


def _created(pairs: list[tuple[int, int]], *, is_sample: bool = False) -> FollowsReport:
    """Write the pairs not yet followed; tell the app about each follower who changed."""
    existing = set(
        Follow.objects.filter(follower_id__in={a for a, _ in pairs}).values_list(
            "follower_id", "followed_id"
        )
    )
    new = [pair for pair in dict.fromkeys(pairs) if pair not in existing]
    Follow.objects.bulk_create(
        [Follow(follower_id=a, followed_id=b, is_sample=is_sample) for a, b in new],
        batch_size=1000,
    )
    if new:  # bulk_create sends no signal; told before the followers' caches go
        transaction.on_commit(social_changed)
    for follower in sorted({a for a, _ in new}):
        transaction.on_commit(lambda pk=follower: user_cache_delete(user_pk=pk))
    return FollowsReport(rows=len(pairs), created=len(new), existing=len(pairs) - len(new))


def follows_import(lines: Iterable[str]) -> FollowsReport:
    """Import a CSV of ``user,followed`` (customer numbers or usernames), all or nothing.

    Raises FollowsImportError naming the line of the first bad row: a missing column,
    an empty or unknown user, or someone following themself.
    """
    reader = csv.DictReader(lines)
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [column for column in COLUMNS if column not in header]
    if missing:
        raise FollowsImportError(1, f"the header lacks the column(s) {', '.join(missing)}.")
    reader.fieldnames = header
    rows: list[tuple[int, str, str]] = []
    for record in reader:
        line = reader.line_num
        values = [(record.get(column) or "").strip() for column in COLUMNS]
        if None in record or not all(values):
            raise FollowsImportError(line, "each row needs a user and a followed user.")
        rows.append((line, *values))
    users = _users_by_reference({value for _, *pair in rows for value in pair})
    pairs = []
    for line, user, followed in rows:
        for value in (user, followed):
            if value not in users:
                raise FollowsImportError(line, f"no customer number or username {value!r}.")
        if users[user] == users[followed]:
            raise FollowsImportError(line, f"{user!r} cannot follow themself.")
        pairs.append((users[user], users[followed]))
    with transaction.atomic():
        return _created(pairs)


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
        return _created(follows, is_sample=True)
