"""What one account may add to the item statistics, and the accounts behind a jump.

Accounts are free: ten sign-ups posting views of a product and of a best seller could
make the product trend and link it to the best seller for everyone who bought that.
With ``RECOMMENDATIONS["TRUST"]["ENABLED"]`` (the default) training therefore

* weighs each account by its trust: 1 with a purchase (a source whose ``ROLE`` is
  ``"purchase"``), ``NO_PURCHASE_WEIGHT`` without;
* counts each account at most once per item in popularity and trending (its strongest
  event, a view weighing less than a purchase), spread over ``MAX_ITEMS_PER_USER``;
* ranks popularity by the (trusted) buyers only, and needs ``MIN_SUPPORT`` of them for
  an item to trend or a pair of items to be similar;
* lets only trusted accounts teach the personal and similar-items models, which weigh
  every user alike (a binary weighting cannot tell a fraction of a user from a whole).

Staff see the products whose recent signal jumped mostly through accounts without a
purchase with :func:`signal_jumps`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from django.utils import timezone

from recommendations.adapters import EventArrays, SettingsAdapter, _key_array, get_adapter
from recommendations.conf import PURCHASE, app_settings


def purchase_codes(events: EventArrays) -> np.ndarray:
    """Codes (indices into ``events.sources``) of the sources whose role is purchase."""
    names = set(app_settings.source_names(PURCHASE))
    return np.asarray([code for code, name in enumerate(events.sources) if name in names])


def user_trust(events: EventArrays, user_idx: np.ndarray, n_users: int) -> np.ndarray:
    """Trust of every user row: 1 with a purchase, ``NO_PURCHASE_WEIGHT`` without.

    Everyone is trusted with the defences off, or when no purchase source exists (then
    nothing tells a customer from a passer-by).
    """
    trust = np.ones(n_users, dtype=np.float64)
    codes = purchase_codes(events)
    if not app_settings.TRUST_ENABLED or codes.size == 0:
        return trust
    bought = np.isin(events.source, codes) & (events.weight > 0)
    buyers = np.zeros(n_users, dtype=bool)
    buyers[user_idx[bought]] = True
    trust[~buyers] = float(app_settings.TRUST_NO_PURCHASE_WEIGHT)
    return trust


def trusted_rows(
    matrix: sp.csr_matrix, times: sp.csr_matrix, trust: np.ndarray
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """``matrix`` and its ``times`` with the rows of users trusted less than fully emptied.

    Nothing is emptied when nobody is fully trusted: a model must still have rows. At
    serving a shopper is scored from the live history, so an emptied row costs the
    shopper nothing.
    """
    trusted = trust >= 1.0
    if trusted.all() or not trusted.any():
        return matrix, times
    keep = sp.diags(trusted.astype(np.float32))
    kept = sp.csr_matrix(keep @ matrix, dtype=np.float32)
    kept_times = sp.csr_matrix(keep.astype(np.float64) @ times)
    for result in (kept, kept_times):
        result.eliminate_zeros()
        result.sort_indices()
    return kept, kept_times


def item_statistics(
    events: EventArrays,
    user_idx: np.ndarray,
    item_idx: np.ndarray,
    trust: np.ndarray,
    *,
    n_items: int,
    codes: np.ndarray | None = None,
) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """Each user's vote for each item, for popularity and trending, and its latest time.

    A vote is the user's strongest positive event on the item (of the sources ``codes``,
    default all) clipped at 1, so repeats saturate and a view weighs its source weight
    against a purchase's 1, times the user's trust; a user with votes for more than
    ``MAX_ITEMS_PER_USER`` items shares that many among them.
    """
    keep = events.weight > 0
    if codes is not None:
        keep &= np.isin(events.source, codes)
    users, items = user_idx[keep], item_idx[keep]
    values = np.minimum(events.weight[keep], 1.0)
    times = events.time[keep]
    n_users = trust.size
    keys = users.astype(np.int64) * max(n_items, 1) + items
    # Sorted by pair, then by value and time: the last event of a pair has both maxima
    # only by chance, so each is reduced on its own.
    order = np.argsort(keys, kind="stable")
    keys, values, times = keys[order], values[order], times[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if keys.size else keys
    if keys.size:
        values = np.maximum.reduceat(values, starts)
        times = np.maximum.reduceat(times, starts)
    rows, columns = np.divmod(keys[starts], max(n_items, 1))
    per_user = np.bincount(rows, minlength=n_users)
    budget = float(app_settings.TRUST_MAX_ITEMS_PER_USER)
    share = np.minimum(1.0, budget / np.maximum(per_user, 1))
    votes = values * trust[rows] * share[rows]
    shape = (n_users, n_items)
    matrix = sp.csr_matrix((votes.astype(np.float32), (rows, columns)), shape=shape)
    latest = sp.csr_matrix((times, (rows, columns)), shape=shape)
    matrix.sort_indices()
    latest.sort_indices()
    return matrix, latest


# -- the staff report -------------------------------------------------------------------


@dataclass(frozen=True)
class SignalJump:
    """A product whose recent signal came mostly from accounts without a purchase."""

    item: Any
    users: int  # distinct accounts with an event in the recent period
    new_accounts: int  # of which without any purchase
    previous_users: int  # distinct accounts in the period before

    @property
    def new_share(self) -> float:
        """The part of the recent accounts that never bought anything."""
        return self.new_accounts / self.users if self.users else 0.0


def signal_jumps(
    *,
    days: float | None = None,
    now: dt.datetime | None = None,
    min_accounts: int = 3,
    limit: int = 50,
    adapter: SettingsAdapter | None = None,
) -> list[SignalJump]:
    """Products whose accounts in the last ``days`` outnumber those of the ``days`` before,
    at least ``min_accounts`` of them and most without a purchase; most such first."""
    adapter = adapter or get_adapter()
    days = float(app_settings.TRUST_REPORT_DAYS if days is None else days)
    if not days > 0:
        raise ValueError(f"days must be positive, got {days!r}.")
    end = (now or timezone.now()).timestamp()
    start = end - 2 * days * 86_400.0
    events = adapter.training_events(since=dt.datetime.fromtimestamp(start, tz=dt.UTC))
    inside = (events.time >= start) & (events.time <= end) & (events.weight > 0)
    user_pks, item_pks = events.user_pk[inside], events.item_pk[inside]
    recent = events.time[inside] > end - days * 86_400.0
    if not recent.any():
        return []
    buyers = adapter.users_with_purchase(np.unique(user_pks[recent]).tolist())
    is_new = ~np.isin(user_pks, _key_array(sorted(buyers, key=str)))

    def distinct(mask: np.ndarray) -> dict[Any, int]:
        pairs = set(zip(item_pks[mask].tolist(), user_pks[mask].tolist(), strict=True))
        counts: dict[Any, int] = {}
        for item, _user in pairs:
            counts[item] = counts.get(item, 0) + 1
        return counts

    users, new, previous = distinct(recent), distinct(recent & is_new), distinct(~recent)
    candidates = [
        (pk, users[pk], new.get(pk, 0), previous.get(pk, 0))
        for pk in users
        if new.get(pk, 0) >= min_accounts
        and 2 * new.get(pk, 0) > users[pk]
        and users[pk] > previous.get(pk, 0)
    ]
    candidates.sort(key=lambda row: (-row[2], -(row[1] - row[3]), str(row[0])))
    candidates = candidates[:limit]
    items = adapter.catalog_model()._default_manager.in_bulk([row[0] for row in candidates])
    return [
        SignalJump(item=items[pk], users=n, new_accounts=fresh, previous_users=before)
        for pk, n, fresh, before in candidates
        if pk in items
    ]
