"""Scale benchmark: fit every default algorithm on a synthetic long-tail data set.

    python benchmarks/synthetic.py [--events N] [--users N] [--items N] [--only NAME ...]

1,000,000 events by 200,000 users over 50,000 items by default, item popularity and
user activity both Zipf-like, fixed seed. Each algorithm is fitted with its default
parameters in its own forked child; fit time and peak memory (growth of the resident
set) are printed, with their ratio to the popularity baseline. An algorithm that
declines the size (EASE) shows its message instead.
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
import scipy.sparse as sp  # noqa: E402

from benchmarks.measure import in_child, peak_growth_mb, peak_rss_mb, start_memory  # noqa: E402
from benchmarks.offline import ENGINE_ORDER  # noqa: E402
from recommendations.engine import registered  # noqa: E402
from recommendations.engine.features import item_features, user_features  # noqa: E402
from recommendations.engine.interactions import build_interactions  # noqa: E402

SEED = 20_241_127
DAYS = 180
# The default blend includes EASE, which declines 50,000 items: the same blend without it.
NO_EASE = [["item_knn", {}], ["svd", {}], ["trending", {}]]


def zipf_weights(size: int, exponent: float, rng: np.random.Generator) -> np.ndarray:
    """Probabilities proportional to 1 / rank ** exponent, ranks shuffled over the ids."""
    weights = 1.0 / np.arange(1, size + 1) ** exponent
    rng.shuffle(weights)
    return weights / weights.sum()


def synthetic_data(n_events: int, n_users: int, n_items: int) -> dict[str, Any]:
    """Interactions, timestamps and side features of a long-tail shop."""
    rng = np.random.default_rng(SEED)
    users = rng.choice(n_users, size=n_events, p=zipf_weights(n_users, 0.6, rng))
    # Users favour one of 200 "tastes", each a slice of the catalog: some structure to learn.
    item_p = zipf_weights(n_items, 1.0, rng)
    tastes = rng.integers(0, 200, size=n_users)
    taste_of_item = rng.integers(0, 200, size=n_items)
    own_taste = rng.random(n_events) < 0.5
    items = rng.choice(n_items, size=n_events, p=item_p)
    by_taste = [np.flatnonzero(taste_of_item == t) for t in range(200)]
    for taste, members in enumerate(by_taste):
        if members.size == 0:
            continue  # a small catalog may leave a taste without items
        events = np.flatnonzero(own_taste & (tastes[users] == taste))
        local = item_p[members] / item_p[members].sum()
        items[events] = rng.choice(members, size=events.size, p=local)
    times = 1.7e9 + rng.uniform(0, DAYS * 86_400, size=n_events)
    matrix, latest = build_interactions(
        users, items, np.ones(n_events), n_users=n_users, n_items=n_items, times=times
    )
    words = np.array([f"w{i}" for i in range(2000)])
    texts = [
        " ".join(words[rng.integers(0, words.size, size=4)]) + f" taste{t}" for t in taste_of_item
    ]
    countries = np.array([f"country{i}" for i in range(30)])
    return {
        "interactions": matrix,
        "timestamps": latest,
        "item_features": item_features(
            texts, taste_of_item % 100, rng.lognormal(1.5, 0.8, size=n_items)
        ),
        "user_features": user_features(
            countries[rng.choice(30, size=n_users, p=zipf_weights(30, 1.2, rng))]
        ),
    }


def fit_one(name: str, params: dict[str, Any], data: dict[str, Any]) -> dict[str, float]:
    """Fit one algorithm (inside a forked child) and measure it."""
    baseline = start_memory()
    started = time.perf_counter()
    model = registered()[name](**params).fit(
        data["interactions"],
        user_features=data["user_features"],
        item_features=data["item_features"],
        timestamps=data["timestamps"],
    )
    fit_seconds = time.perf_counter() - started
    peak_mb = peak_growth_mb(baseline)
    process_mb = peak_rss_mb()
    begin = time.perf_counter()
    model.recommend_batch(np.arange(100), 20)
    return {
        "fit": fit_seconds,
        "peak_mb": peak_mb,
        "process_mb": process_mb,
        "recommend_ms": 10 * (time.perf_counter() - begin),
    }


def main(argv: list[str] | None = None) -> None:
    """Generate the data, fit every algorithm and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=50_000)
    parser.add_argument("--only", nargs="*", help="algorithm names to run (default: all)")
    options = parser.parse_args(argv)
    started = time.perf_counter()
    data = synthetic_data(options.events, options.users, options.items)
    matrix: sp.csr_matrix = data["interactions"]
    print(
        f"Synthetic long tail: {options.events:,} events, {matrix.shape[0]:,} users x "
        f"{matrix.shape[1]:,} items, {matrix.nnz:,} distinct pairs "
        f"(generated in {time.perf_counter() - started:.1f} s)\n"
    )
    runs = [(n, n, {}) for n in ENGINE_ORDER if n in registered()]
    runs.append(("blend without ease", "blend", {"components": NO_EASE}))
    runs = [run for run in runs if not options.only or run[1] in options.only]
    results: dict[str, dict[str, float]] = {}
    print(
        "| algorithm | fit s | peak MB | process peak MB | fit / popularity "
        "| peak / popularity | ms per user |"
    )
    print("|---|---|---|---|---|---|---|")
    for label, name, params in runs:
        status, value = in_child(fit_one, name, params, data)
        if status != "ok":
            print(f"| {label} | declined: {value} | | | | | |", flush=True)
            continue
        results[label] = value
        base = results.get("popularity", value)
        print(
            f"| {label} | {value['fit']:.1f} | {value['peak_mb']:.0f} | {value['process_mb']:.0f} "
            f"| {value['fit'] / max(base['fit'], 1e-3):.0f}x "
            f"| {value['peak_mb'] / max(base['peak_mb'], 1.0):.1f}x "
            f"| {value['recommend_ms']:.2f} |",
            flush=True,
        )
    total = sum(r["fit"] for r in results.values())
    peak = max((r["process_mb"] for r in results.values()), default=0.0)
    print(
        f"\nTotal fit time: {total:.0f} s; largest process peak: {peak:.0f} MB. "
        "peak MB = growth of the resident set during fit (VmHWM - VmRSS before), process "
        "peak = VmHWM of the forked child, data included; one child per algorithm. "
        f"Whole run {time.perf_counter() - started:.0f} s."
    )


if __name__ == "__main__":
    main()
