"""How many fake accounts it takes to push a product, with the defences off and on.

    python benchmarks/poisoning.py [--grid 1 2 3 5 10 ...]

On Online Retail (every purchase of ``data/online_retail``), the prober's attack: each
fake account views a long-tail product T five times and the best seller P five times,
at the time of the newest event; in a second scenario each also buys T once (the
accounts then count as customers). For each number of accounts on the grid, the
training's own item statistics (``recommendations.training.auxiliary_fit``) are fitted
with ``RECOMMENDATIONS["TRUST"]["ENABLED"]`` off ("before") and on ("after"), and the
script prints the first number that puts T into similar(P) (top 10) and into trending
(top 10). No database: the events go straight to the training's functions.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from django.conf import settings  # noqa: E402
from django.test import override_settings  # noqa: E402

from benchmarks.retail import read_events  # noqa: E402
from recommendations import engine  # noqa: E402
from recommendations.adapters import EventArrays  # noqa: E402
from recommendations.conf import app_settings  # noqa: E402
from recommendations.training import TrainingData, _weights, auxiliary_fit  # noqa: E402
from recommendations.trust import trusted_rows, user_trust  # noqa: E402

GRID = (1, 2, 3, 5, 10, 20, 30, 50, 100, 200, 300, 500, 1000, 2000)
VIEWS_EACH = 5
TOP = 10
SOURCES = ("purchase", "view")  # the demo's source names: purchase plays its role
VIEW_WEIGHT = 0.2  # the demo's weight of a view


def pick_items(users: np.ndarray, items: np.ndarray, n_items: int) -> tuple[int, int]:
    """The best seller P and a long-tail product T (two buyers, never bought with P)."""
    pairs = np.unique(users * n_items + items)
    buyers = np.bincount(pairs % n_items, minlength=n_items)
    bestseller = int(np.argmax(buyers))
    with_p = np.isin(users, users[items == bestseller])
    near = np.unique(items[with_p])
    candidates = np.flatnonzero(buyers == 2)
    target = int(candidates[~np.isin(candidates, near)][0])
    return bestseller, target


def attacked(base: EventArrays, n_users: int, fakes: int, target: int, p: int, buys: bool):
    """The events with ``fakes`` fake accounts added, and the new number of users."""
    now = float(base.time.max())
    fake = np.repeat(np.arange(n_users, n_users + fakes), 2 * VIEWS_EACH)
    item = np.tile(np.repeat([target, p], VIEWS_EACH), fakes)
    weight = np.full(fake.size, VIEW_WEIGHT)
    source = np.ones(fake.size, dtype=np.int8)
    if buys:
        fake = np.concatenate([fake, np.arange(n_users, n_users + fakes)])
        item = np.concatenate([item, np.full(fakes, target)])
        weight = np.concatenate([weight, np.ones(fakes)])
        source = np.concatenate([source, np.zeros(fakes, dtype=np.int8)])
    events = EventArrays(
        user_pk=np.concatenate([base.user_pk, fake]),
        item_pk=np.concatenate([base.item_pk, item]),
        weight=np.concatenate([base.weight, weight]),
        time=np.concatenate([base.time, np.full(fake.size, now)]),
        source=np.concatenate([base.source, source]),
        sources=SOURCES,
    )
    return events, n_users + fakes


def training_data(events: EventArrays, n_users: int, n_items: int) -> TrainingData:
    """The matrices of one batch as ``training_data_prepare`` builds them (no holdout)."""
    shape = (n_users, n_items)
    newest = float(events.time.max())
    matrix, times = _weights(
        events.user_pk, events.item_pk, events.weight, events.time,
        shape=shape, half_life_days=app_settings.HALF_LIFE_DAYS, now=newest,
    )  # fmt: skip
    trust = user_trust(events, events.user_pk, n_users)
    matrix, times = trusted_rows(matrix, times, trust)
    return TrainingData(
        user_pks=np.arange(n_users), item_pks=np.arange(n_items), matrix=matrix, times=times,
        train=matrix, train_times=times, test=None, user_features=None, item_features=None,
        user_idx=events.user_pk, item_idx=events.item_pk, weight=events.weight, time=events.time,
        newest=newest, holdout_start=newest, holdout_end=newest, trending_now=newest,
        future_ignored=0, events=events, trust=trust,
    )  # fmt: skip


def pushed(data: TrainingData, target: int, p: int) -> dict[str, bool]:
    """Whether T shows in similar(P) and in trending, each top ``TOP`` with a score > 0."""
    fitted = {name: engine.load(blob) for name, blob in auxiliary_fit(data).items()}
    ids, scores = fitted["similar"].similar_items(p, TOP)
    similar = target in ids[scores > 0].tolist()
    empty = sp.csr_matrix((1, data.matrix.shape[1]), dtype=np.float32)
    ids, scores = fitted["trending"].recommend_interactions(empty, TOP, exclude_seen=False)
    return {"similar": similar, "trending": target in ids[scores > 0].tolist()}


def first_pushing(
    base: EventArrays, sizes: tuple[int, int], target: int, p: int, *, buys: bool, grid: list[int]
) -> dict[str, int | None]:
    """The first number of fake accounts on the grid that puts T in each list."""
    found: dict[str, int | None] = {"similar": None, "trending": None}
    for fakes in grid:
        events, n_users = attacked(base, sizes[0], fakes, target, p, buys)
        for name, hit in pushed(training_data(events, n_users, sizes[1]), target, p).items():
            if hit and found[name] is None:
                found[name] = fakes
        if all(value is not None for value in found.values()):
            break
    return found


def main(argv: list[str] | None = None) -> None:
    """Run the attack on the grid, defences off then on, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=int, nargs="*", default=list(GRID))
    options = parser.parse_args(argv)
    started = time.perf_counter()
    retail = read_events()
    base = EventArrays(
        user_pk=retail.users.astype(np.int64),
        item_pk=retail.items.astype(np.int64),
        weight=np.ones(retail.users.size),
        time=retail.times.astype(np.float64),
        source=np.zeros(retail.users.size, dtype=np.int8),
        sources=SOURCES,
    )
    p, target = pick_items(base.user_pk, base.item_pk, retail.n_items)
    print(
        f"Online Retail: {len(base):,} purchases, {retail.n_users:,} customers, "
        f"{retail.n_items:,} products. P = {retail.item_names[p]!r}, "
        f"T = {retail.item_names[target]!r} (2 buyers). Grid: {options.grid}\n"
    )
    print("| fake accounts each | defences | to put T in similar(P) | in trending top 10 |")
    print("|---|---|---|---|")
    for buys, label in ((False, "view T and P 5x"), (True, "view T and P 5x, buy T once")):
        for enabled in (False, True):
            trust: dict[str, Any] = {**app_settings._setting("TRUST", {}), "ENABLED": enabled}
            with override_settings(RECOMMENDATIONS={**settings.RECOMMENDATIONS, "TRUST": trust}):
                found = first_pushing(
                    base, (retail.n_users, retail.n_items), target, p, buys=buys,
                    grid=options.grid,
                )  # fmt: skip
            cells = [
                f"> {max(options.grid)}" if found[name] is None else str(found[name])
                for name in ("similar", "trending")
            ]
            print(f"| {label} | {'on' if enabled else 'off'} | {cells[0]} | {cells[1]} |")
    print(f"\nwhole benchmark: {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
