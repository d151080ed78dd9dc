"""EASE fit time and memory on large catalogs, as in BENCHMARK.md's 2-core setting.

    python benchmarks/ease_speed.py [--items 15000] [--users 593 50000] [--reference]

Synthetic purchases (Zipf-like item popularity, a fixed seed) of ``--users`` users over
``--items`` items, about 20 distinct items per user; every row of the table is one
fit of ``EASERecommender()`` in its own forked child, dense weights formed (as saving an
artifact does). ``--reference`` also times the
previous solve (a Cholesky factor, then a solve against the identity) on the same data.
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
import scipy.linalg  # noqa: E402
import scipy.sparse as sp  # noqa: E402

from benchmarks.measure import in_child, peak_growth_mb, start_memory  # noqa: E402
from recommendations.engine.ease import EASERecommender  # noqa: E402
from recommendations.engine.interactions import apply_weighting  # noqa: E402

ITEMS_PER_USER = 20


def purchases(n_users: int, n_items: int, seed: int = 0) -> sp.csr_matrix:
    """About ``ITEMS_PER_USER`` distinct items per user, item popularity Zipf-like."""
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.8
    popularity /= popularity.sum()
    rows = np.repeat(np.arange(n_users), ITEMS_PER_USER)
    columns = rng.choice(n_items, size=rows.size, p=popularity)
    matrix = sp.csr_matrix((np.ones(rows.size, np.float32), (rows, columns)), (n_users, n_items))
    matrix.data[:] = 1.0
    return matrix


def reference_fit(interactions: sp.csr_matrix, l2: float = 500.0) -> None:
    """The solve EASE used before: cho_factor, then cho_solve against the identity."""
    weighted = apply_weighting(interactions, "binary")
    n_items = weighted.shape[1]
    gram = np.asarray((weighted.T @ weighted).toarray(), dtype=np.float32)
    gram[np.diag_indices(n_items)] += l2
    precision = scipy.linalg.cho_solve(
        scipy.linalg.cho_factor(gram, overwrite_a=True, check_finite=False),
        np.eye(n_items, dtype=np.float32),
        overwrite_b=True,
        check_finite=False,
    )
    del gram
    precision /= -np.diag(precision).copy()[None, :]


def run(n_users: int, n_items: int, reference: bool) -> dict[str, Any]:
    """Fit (inside a forked child) and measure."""
    interactions = purchases(n_users, n_items)
    active = int(np.count_nonzero(np.diff(interactions.tocsc().indptr)))
    baseline = start_memory()
    started = time.perf_counter()
    if reference:
        reference_fit(interactions)
    else:
        model = EASERecommender(max_items=max(20_000, n_items)).fit(interactions)
        # The dense weights an artifact saves: with few users the fit keeps only factors.
        model.weights_  # noqa: B018
    return {
        "fit": time.perf_counter() - started,
        "peak": peak_growth_mb(baseline),
        "active": active,
        "pairs": interactions.nnz,
    }


def main(argv: list[str] | None = None) -> None:
    """Print one row per configuration."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, nargs="*", default=[15_000])
    parser.add_argument("--users", type=int, nargs="*", default=[593, 50_000])
    parser.add_argument("--reference", action="store_true", help="time the previous solve too")
    options = parser.parse_args(argv)
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"load average at start: {' '.join(load)} (2 cores)\n")
    print("| users | items | items bought | pairs | solve | fit s | peak MB |")
    print("|---|---|---|---|---|---|---|")
    for n_items in options.items:
        for n_users in options.users:
            for reference in [False, True] if options.reference else [False]:
                status, value = in_child(run, n_users, n_items, reference)
                if status != "ok":
                    print(f"| {n_users:,} | {n_items:,} | | | | failed: {value} | |")
                    continue
                solve = "previous (cho_solve of I)" if reference else "EASERecommender"
                print(
                    f"| {n_users:,} | {n_items:,} | {value['active']:,} | {value['pairs']:,} "
                    f"| {solve} | {value['fit']:.1f} | {value['peak']:.0f} |",
                    flush=True,
                )
    load = Path("/proc/loadavg").read_text().split()[:3]
    print(f"\nload average at end: {' '.join(load)}")


if __name__ == "__main__":
    main()
