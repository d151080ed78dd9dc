"""The blend where each user is judged at a different moment, on Online Retail.

    python benchmarks/per_user.py [--only NAME ...] [--protocol last_order last_20pct]

BENCHMARK.md's protocol for shops without a global time split, applied to the one data
set at hand: each user's last order (``last_order``; users with at least two orders)
or the last 20% of each user's purchases by time (``last_20pct``, whole invoices: an
invoice that straddles the cut is held out whole) is the test; every other purchase
is train; only items new to the user count, k = 20. ``last_order`` gives the models
order numbers (1, 2, ... per user) instead of dates, as a basket data set without
absolute times would; ``last_20pct`` gives the real dates. Each model is fitted in its
own forked child. Rows:

- ``ease``, ``ease_recency``: the components alone (recency with real dates only).
- ``blend``: the default blend (``validation="auto"``: per user with order numbers,
  by period with dates).
- ``blend_per_user``: the default blend told ``validation="per_user"``.
- ``blend_previous``: the blend as it was before the self-check (validation by period,
  sales features always, no fallback to a better component).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import limit_threads

limit_threads(2)

import numpy as np  # noqa: E402  (after the thread caps)

from benchmarks.measure import in_child  # noqa: E402
from benchmarks.retail import RetailEvents, read_events  # noqa: E402
from recommendations.engine import registered  # noqa: E402
from recommendations.engine.interactions import build_interactions  # noqa: E402
from recommendations.engine.metrics import evaluate  # noqa: E402
from recommendations.engine.split import holdout_new_items  # noqa: E402

K = 20
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "ease": ("ease", {}),
    "ease_recency": ("ease", {"recency_half_life_days": 120.0}),
    "blend": ("blend", {}),
    "blend_per_user": ("blend", {"validation": "per_user"}),
    "blend_previous": (
        "blend",
        {"validation": "time", "sales_features": True, "compare_components": False},
    ),
}
PROTOCOLS = ("last_order", "last_20pct")


def per_user_split(events: RetailEvents, protocol: str) -> dict[str, Any]:
    """Train, timestamps and the held-out new items of one protocol."""
    invoices, invoice_of = np.unique(events.invoices, return_inverse=True)
    # One time and one user per invoice (its first row's).
    first = np.zeros(invoices.size, dtype=np.int64)
    first[invoice_of[::-1]] = np.arange(invoice_of.size)[::-1]
    invoice_time, invoice_user = events.times[first], events.users[first]
    order = np.lexsort((invoice_time, invoice_user))
    rank = np.empty(invoices.size, dtype=np.int64)
    starts = np.r_[0, np.flatnonzero(np.diff(invoice_user[order])) + 1]
    counts = np.diff(np.r_[starts, order.size])
    rank[order] = np.arange(order.size) - np.repeat(starts, counts)
    n_orders = np.bincount(invoice_user, minlength=events.n_users)
    if protocol == "last_order":
        test_invoice = rank == n_orders[invoice_user] - 1
        test_invoice &= n_orders[invoice_user] >= 2
    else:
        # Each user's events by time; an invoice is held out when its first event is in
        # the user's last 20% of events.
        event_order = np.lexsort((events.times, events.users))
        event_rank = np.empty(events.users.size, dtype=np.int64)
        user_starts = np.r_[0, np.flatnonzero(np.diff(events.users[event_order])) + 1]
        user_counts = np.diff(np.r_[user_starts, event_order.size])
        event_rank[event_order] = np.arange(event_order.size) - np.repeat(user_starts, user_counts)
        n_events = np.bincount(events.users, minlength=events.n_users)
        cut = np.floor(0.8 * n_events).astype(np.int64)
        in_tail = event_rank >= cut[events.users]
        test_invoice = np.zeros(invoices.size, dtype=bool)
        test_invoice[invoice_of[in_tail]] = True
        test_invoice &= n_orders[invoice_user] >= 2
        # A user's first invoice always stays in train.
        test_invoice &= rank > 0
    held = test_invoice[invoice_of]
    times = rank[invoice_of] + 1.0 if protocol == "last_order" else events.times
    ones = np.ones(events.users.size)
    shape = {"n_users": events.n_users, "n_items": events.n_items}
    train, train_times = build_interactions(
        events.users[~held], events.items[~held], ones[~held], times=times[~held], **shape
    )
    test, _ = build_interactions(events.users[held], events.items[held], ones[held], **shape)
    return {"train": train, "times": train_times, "test": holdout_new_items(train, test)}


def run_model(name: str, split: dict[str, Any]) -> dict[str, Any]:
    """Fit and evaluate one model (in a forked child)."""
    algorithm, params = MODELS[name]
    started = time.perf_counter()
    model = registered()[algorithm](**params).fit(split["train"], timestamps=split["times"])
    result: dict[str, Any] = {"fit": time.perf_counter() - started}
    result.update(evaluate(model, split["train"], split["test"], K))
    for key in ("validation_", "fallback_", "selection_", "sales_features_"):
        result[key] = getattr(model, key, None)
    return result


def main(argv: list[str] | None = None) -> None:
    """Print one table per protocol."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="model names (default: all)")
    parser.add_argument("--protocol", nargs="*", default=list(PROTOCOLS), choices=PROTOCOLS)
    options = parser.parse_args(argv)
    started = time.perf_counter()
    events = read_events()
    for protocol in options.protocol:
        split = per_user_split(events, protocol)
        users = int(np.count_nonzero(np.diff(split["test"].indptr)))
        print(
            f"\n{protocol}: train {split['train'].nnz:,} pairs, test {split['test'].nnz:,} "
            f"new pairs of {users:,} users"
        )
        print("| model | Recall@20 | NDCG@20 | fit s | validation | chosen |")
        print("|---|---|---|---|---|---|")
        notes = []
        for name in MODELS:
            if options.only and name not in options.only:
                continue
            if protocol == "last_order" and name == "ease_recency":
                continue
            status, r = in_child(run_model, name, split)
            if status != "ok":
                print(f"| {name} | failed: {r} | | | | |")
                continue
            chosen = ""
            if r["validation_"]:
                chosen = (
                    "fallback"
                    if r["fallback_"]
                    else ("ranker with sales" if r["sales_features_"] else "ranker without sales")
                )
                notes.append(f"{name}: {r['selection_']}; fallback: {r['fallback_']}")
            print(
                f"| {name} | {r['recall']:.4f} | {r['ndcg']:.4f} | {r['fit']:.1f} "
                f"| {r['validation_'] or ''} | {chosen} |",
                flush=True,
            )
        for note in notes:
            print(f"- {note}")
    print(f"\nwhole benchmark: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    main()
