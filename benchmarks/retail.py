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


@dataclass
class RetailEvents:
    """Every kept purchase of the CSV, one entry per event, plus what features need."""

    users: np.ndarray
    items: np.ndarray
    times: np.ndarray
    invoices: np.ndarray
    countries: np.ndarray
    item_names: list[str]
    item_prices: list[float]
    n_users: int
    n_items: int


def read_events(path: Path = DATA) -> RetailEvents:
    """Read the CSV and keep the purchases (``BENCHMARK.md``), indexing users and items."""
    users: dict[str, int] = {}
    items: dict[str, int] = {}
    user_idx, item_idx, times, invoices, countries = [], [], [], [], []
    descriptions: dict[int, Counter[str]] = {}
    prices: dict[int, list[float]] = {}
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
            invoices.append(row["InvoiceNo"])
            countries.append(row["Country"])
            descriptions.setdefault(item, Counter())[row["Description"].strip()] += 1
            prices.setdefault(item, []).append(float(row["UnitPrice"]))
    return RetailEvents(
        users=np.asarray(user_idx),
        items=np.asarray(item_idx),
        times=np.asarray(times),
        invoices=np.asarray(invoices),
        countries=np.asarray(countries),
        item_names=[descriptions[i].most_common(1)[0][0] for i in range(len(items))],
        item_prices=[float(np.median(prices[i])) for i in range(len(items))],
        n_users=len(users),
        n_items=len(items),
    )


def split_events(
    events: RetailEvents, cutoff: dt.datetime = CUTOFF, end: dt.datetime | None = None
) -> RetailSplit:
    """Train on the events before ``cutoff``, test on the new items bought from it to ``end``.

    ``end`` (default: no end) lets validation folds carved out of train score one month.
    """
    n_users, n_items = events.n_users, events.n_items
    train_mask, test_mask = temporal_split(events.users, events.items, events.times, cutoff=cutoff)
    if end is not None:
        test_mask &= events.times < end.timestamp()
    ones = np.ones(events.users.size)
    train, train_times = build_interactions(
        events.users[train_mask],
        events.items[train_mask],
        ones[train_mask],
        n_users=n_users,
        n_items=n_items,
        times=events.times[train_mask],
    )
    test, _ = build_interactions(
        events.users[test_mask],
        events.items[test_mask],
        ones[test_mask],
        n_users=n_users,
        n_items=n_items,
    )
    items_x = item_features(
        events.item_names,
        [category_of(name) for name in events.item_names],
        events.item_prices,
    )
    countries: dict[int, Counter[str]] = {}
    orders: dict[int, set[str]] = {}
    for user, country, invoice in zip(
        events.users[train_mask],
        events.countries[train_mask],
        events.invoices[train_mask],
        strict=True,
    ):
        countries.setdefault(int(user), Counter())[country] += 1
        orders.setdefault(int(user), set()).add(invoice)
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
        n_events=int(events.users.size),
    )


def load_split(path: Path = DATA) -> RetailSplit:
    """Read the CSV, keep purchases, split at 2011-11-01 and build features."""
    return split_events(read_events(path))
