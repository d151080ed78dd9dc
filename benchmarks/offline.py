"""Offline benchmark on Online Retail, following ``BENCHMARK.md``; run from the project root.

    python benchmarks/offline.py [--only NAME ...]

Every registered engine algorithm and the implicit peers are fitted on the same split,
each in its own forked child (so one model's memory never counts for another), and
printed side by side: quality, fit time, peak memory, NDCG relative to implicit ALS,
cold-start quality and per-user latency.
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
from threadpoolctl import threadpool_limits  # noqa: E402

from benchmarks.measure import in_child, peak_growth_mb, start_memory  # noqa: E402
from benchmarks.retail import RetailSplit, load_split  # noqa: E402
from recommendations.engine import registered  # noqa: E402
from recommendations.engine.interactions import apply_weighting  # noqa: E402
from recommendations.engine.metrics import evaluate, ndcg_at_k, recall_at_k  # noqa: E402

K = 20
LATENCY_USERS = 1000
ENGINE_ORDER = (
    "popularity",
    "trending",
    "item_knn",
    "user_knn",
    "svd",
    "ease",
    "rp3beta",
    "content",
    "mlp",
    "blend",
)
# Engine models with a non-default hyper-parameter, chosen on validation folds carved
# out of train (README): the known users' history decays with this half-life in days.
VARIANTS: dict[str, tuple[str, dict[str, Any]]] = {
    "ease_recency": ("ease", {"recency_half_life_days": 120.0}),
    "item_knn_recency": ("item_knn", {"recency_half_life_days": 120.0}),
    "svd_recency": ("svd", {"recency_half_life_days": 120.0}),
    "rp3beta_recency": ("rp3beta", {"recency_half_life_days": 30.0}),
}
PEERS = ("implicit_cosine", "implicit_als", "implicit_bpr")
# Input weighting of each peer: the best of raw/log/binary counts on this split (the
# reference table also shows the peers at their best). Cosine on raw counts: NDCG 0.047.
PEER_WEIGHTING = {"implicit_cosine": "binary", "implicit_als": "raw", "implicit_bpr": "binary"}
REFERENCE = "implicit_als"


class ImplicitAdapter:
    """Just enough of the engine interface for :func:`evaluate` over an implicit model."""

    def __init__(self, model: Any, train: sp.csr_matrix) -> None:
        self.model = model
        self.train = train
        self.n_users_, self.n_items_ = train.shape

    def recommend_batch(self, user_ids: Any, n: int = K, *, exclude_seen: bool = True) -> Any:
        """Top-n of many users, padded with -1 like the engine."""
        users = np.asarray(user_ids)
        ids, scores = self.model.recommend(
            users, self.train[users], N=n, filter_already_liked_items=exclude_seen
        )
        ids = np.where(np.isfinite(scores) & (ids >= 0), ids, -1)
        return ids.astype(np.int64), scores

    def recommend(self, user_id: int, n: int = K) -> Any:
        """Top-n of one user."""
        return self.model.recommend(user_id, self.train[user_id], N=n)


def make_peer(name: str) -> Any:
    """The implicit model of the reference table with its reference parameters."""
    from implicit.als import AlternatingLeastSquares
    from implicit.bpr import BayesianPersonalizedRanking
    from implicit.nearest_neighbours import CosineRecommender

    if name == "implicit_cosine":
        return CosineRecommender(K=50)
    if name == "implicit_als":
        return AlternatingLeastSquares(
            factors=64, alpha=1.0, regularization=0.01, iterations=15, random_state=0
        )
    return BayesianPersonalizedRanking(factors=64, random_state=0)


def cold_start_targets(data: RetailSplit) -> dict[str, tuple[np.ndarray, sp.csr_matrix]]:
    """The users and relevant items of each cold-start slice."""
    items_in_train = np.diff(data.train.tocsc().indptr)
    n_train_items = np.diff(data.train.indptr)
    has_test = np.diff(data.test.indptr) > 0
    cold_columns = sp.diags((items_in_train == 0).astype(np.float32))
    cold_test = sp.csr_matrix(data.test @ cold_columns)
    cold_test.eliminate_zeros()
    return {
        "users <= 2 train orders": (
            np.flatnonzero(has_test & (n_train_items > 0) & (data.train_orders <= 2)),
            data.test,
        ),
        "users <= 2 train items": (
            np.flatnonzero(has_test & (n_train_items > 0) & (n_train_items <= 2)),
            data.test,
        ),
        "cold test items": (
            np.flatnonzero((n_train_items > 0) & (np.diff(cold_test.indptr) > 0)),
            cold_test,
        ),
    }


def run_model(name: str, data: RetailSplit) -> dict[str, Any]:
    """Fit, evaluate and time one model (called inside a forked child)."""
    baseline = start_memory()
    started = time.perf_counter()
    if name in PEERS:
        model = ImplicitAdapter(make_peer(name), apply_weighting(data.train, PEER_WEIGHTING[name]))
        # implicit runs its own threads and asks for a single-threaded BLAS.
        with threadpool_limits(limits=1, user_api="blas"):
            model.model.fit(model.train, show_progress=False)
    else:
        algorithm, params = VARIANTS.get(name, (name, {}))
        model = registered()[algorithm](**params).fit(
            data.train,
            user_features=data.user_features,
            item_features=data.item_features,
            timestamps=data.train_times,
        )
    fit_seconds = time.perf_counter() - started
    peak_mb = peak_growth_mb(baseline)
    result: dict[str, Any] = {"fit": fit_seconds, "peak_mb": peak_mb}
    result.update(evaluate(model, data.train, data.test, K))
    result["cold"] = {}
    for label, (users, relevant) in cold_start_targets(data).items():
        ranked = model.recommend_batch(users, K, exclude_seen=True)[0]
        result["cold"][label] = {
            "users": int(users.size),
            "recall": recall_at_k(ranked, relevant[users], K),
            "ndcg": ndcg_at_k(ranked, relevant[users], K),
        }
    scored = np.flatnonzero((np.diff(data.train.indptr) > 0) & (np.diff(data.test.indptr) > 0))
    timings = []
    # One thread: the cost of a call on one core, whatever the other core is doing.
    with threadpool_limits(limits=1):
        for user in scored[:LATENCY_USERS]:
            begin = time.perf_counter()
            model.recommend(int(user), K)
            timings.append(time.perf_counter() - begin)
    result["p50_ms"] = 1000 * float(np.percentile(timings, 50))
    result["p99_ms"] = 1000 * float(np.percentile(timings, 99))
    return result


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its tables."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="model names to run (default: all)")
    options = parser.parse_args(argv)
    started = time.perf_counter()
    data = load_split()
    engine_names = [n for n in ENGINE_ORDER if n in registered()]
    engine_names += sorted(set(registered()) - set(ENGINE_ORDER))
    engine_names += list(VARIANTS)
    names = [n for n in [*engine_names, *PEERS] if not options.only or n in options.only]
    print(
        f"Online Retail: {data.n_events:,} purchase events, {data.train.shape[0]:,} users x "
        f"{data.train.shape[1]:,} items; train {data.train.nnz:,} pairs, "
        f"test {data.test.nnz:,} new pairs (loaded in {time.perf_counter() - started:.1f} s)\n"
    )
    results: dict[str, dict[str, Any]] = {}
    for name in names:
        status, value = in_child(run_model, name, data)
        if status == "ok":
            results[name] = value
        else:
            print(f"{name}: FAILED: {value}")
        print(f"  done {name}", file=sys.stderr, flush=True)
    print_tables(results, engine_names)
    print(f"\nwhole benchmark: {time.perf_counter() - started:.0f} s")


def print_tables(results: dict[str, dict[str, Any]], engine_names: list[str]) -> None:
    """The quality/speed table, the cold-start table and the totals."""
    reference = results.get(REFERENCE, {}).get("ndcg")
    print(
        "| model | Recall@20 | NDCG@20 | Coverage@20 | fit s | peak MB | NDCG / ALS "
        "| p50 ms | p99 ms |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        ratio = f"{r['ndcg'] / reference:.2f}" if reference else "n/a"
        print(
            f"| {name} | {r['recall']:.4f} | {r['ndcg']:.4f} | {r['coverage']:.3f} "
            f"| {r['fit']:.1f} | {r['peak_mb']:.0f} | {ratio} "
            f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} |"
        )
    users = next(iter(results.values()))["users"] if results else 0
    print(
        f"\n{users} users scored. peak MB = growth of the resident set (VmHWM - VmRSS) "
        "during fit, in a forked child per model. Latency: one recommend(user, 20) call, "
        f"in process, one BLAS thread, over {LATENCY_USERS} users."
    )
    algorithms = [n for n in engine_names if n not in VARIANTS]
    engine_fit = sum(r["fit"] for n, r in results.items() if n in algorithms)
    variants_fit = sum(r["fit"] for n, r in results.items() if n in VARIANTS)
    print(
        f"Total fit time of the engine algorithms: {engine_fit:.1f} s (the *_recency rows "
        f"are parameter variants, not algorithms: {variants_fit:.1f} s more)"
    )
    if not results:
        return
    first = next(iter(results.values()))["cold"]
    labels = list(first)
    print("\nCold start (rank among all items, bought items excluded), Recall@20 / NDCG@20:")
    header = " | ".join(f"{label} ({first[label]['users']} users)" for label in labels)
    print(f"| model | {header} |")
    print("|---|" + "---|" * len(labels))
    for name, r in results.items():
        cold = r["cold"]
        cells = " | ".join(f"{cold[x]['recall']:.4f} / {cold[x]['ndcg']:.4f}" for x in labels)
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
