"""Online Retail loaded and split exactly as ``BENCHMARK.md`` says, plus side features."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from recommendations.engine.features import item_features, user_features
from recommendations.engine.interactions import build_interactions
from recommendations.engine.split import holdout_new_items, temporal_split

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "data" / "online_retail" / "online_retail.csv.gz"
CUTOFF = dt.datetime(2011, 11, 1, tzinfo=dt.UTC)


@dataclass
class RetailSplit:
    """The train matrix, the held-out new items and the side information, by index."""

    train: sp.csr_matrix
    train_times: sp.csr_matrix
    test: sp.csr_matrix
    item_features: sp.csr_matrix
    user_features: sp.csr_matrix
    train_orders: np.ndarray
    n_events: int


def category_of(description: str) -> str:
    """A crude category: the last word of the description (HOLDER, MUG, BAG, ...)."""
    words = re.findall(r"[A-Z]{3,}", description.upper())
    return words[-1] if words else ""


def load_split(path: Path = DATA) -> RetailSplit:
    """Read the CSV, keep purchases, split at 2011-11-01 and build features."""
    users: dict[str, int] = {}
    items: dict[str, int] = {}
    user_idx, item_idx, times = [], [], []
    descriptions: dict[int, Counter[str]] = {}
    prices: dict[int, list[float]] = {}
    countries: dict[int, Counter[str]] = {}
    orders: dict[int, set[str]] = {}
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if not row["CustomerID"] or row["InvoiceNo"].startswith("C"):
                continue
            if int(row["Quantity"]) <= 0:
                continue
            user = users.setdefault(row["CustomerID"], len(users))
            item = items.setdefault(row["StockCode"].strip(), len(items))
            stamp = dt.datetime.fromisoformat(row["InvoiceDate"]).replace(tzinfo=dt.UTC)
            user_idx.append(user)
            item_idx.append(item)
            times.append(stamp.timestamp())
            descriptions.setdefault(item, Counter())[row["Description"].strip()] += 1
            prices.setdefault(item, []).append(float(row["UnitPrice"]))
            if stamp < CUTOFF:
                countries.setdefault(user, Counter())[row["Country"]] += 1
                orders.setdefault(user, set()).add(row["InvoiceNo"])
    users_a, items_a = np.asarray(user_idx), np.asarray(item_idx)
    times_a = np.asarray(times)
    n_users, n_items = len(users), len(items)
    train_mask, test_mask = temporal_split(users_a, items_a, times_a, cutoff=CUTOFF)
    ones = np.ones(users_a.size)
    train, train_times = build_interactions(
        users_a[train_mask],
        items_a[train_mask],
        ones[train_mask],
        n_users=n_users,
        n_items=n_items,
        times=times_a[train_mask],
    )
    test, _ = build_interactions(
        users_a[test_mask], items_a[test_mask], ones[test_mask], n_users=n_users, n_items=n_items
    )
    names = [descriptions[i].most_common(1)[0][0] for i in range(n_items)]
    items_x = item_features(
        names,
        [category_of(name) for name in names],
        [float(np.median(prices[i])) for i in range(n_items)],
    )
    users_x = user_features(
        [countries[u].most_common(1)[0][0] if u in countries else "" for u in range(n_users)]
    )
    return RetailSplit(
        train=train,
        train_times=train_times,
        test=holdout_new_items(train, test),
        item_features=items_x,
        user_features=users_x,
        train_orders=np.asarray([len(orders.get(u, ())) for u in range(n_users)]),
        n_events=int(users_a.size),
    )
