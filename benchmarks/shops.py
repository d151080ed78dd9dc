"""The default training (model selection included) on several shops, beside every engine
algorithm and the implicit peers; run from the project root.

    python benchmarks/shops.py [--only retail movielens grocery] [--no-peers]

Protocols (``BENCHMARK.md``, *Other shops*): a global time split where times are
absolute (Online Retail at 2011-11-01, The Complete Journey at 2017-12-01); each user's
last 20% of events where they are not (MovieLens 100k: a rating's time is when it was
entered, not when the film was seen; the training gets no times at all, so its
selection runs on per-user folds). Test items are the items new to each user; k = 20.

*default (served)* is what the nightly training would serve with the demo's settings
(``config.settings``): ``training_data_prepare`` over the train events, the auxiliary
models, the selection on folds before the training's own holdout, each configured
algorithm evaluated on that holdout and fitted on all events, and the chosen one (the
holdout's best when the folds cannot decide), scored on the test period. Its time is
that whole path, artifacts serialised in memory, without the database and the storage.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import limit_threads

limit_threads(2)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# No server runs: the settings only need a key to load.
os.environ.setdefault("DEBUG", "1")

import django  # noqa: E402
from django.conf import settings  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from benchmarks import datasets  # noqa: E402
from benchmarks.ease_reference import L2_GRID, ReferenceEASE  # noqa: E402
from benchmarks.measure import in_child, peak_growth_mb, start_memory  # noqa: E402
from benchmarks.offline import PEER_WEIGHTING, PEERS, ImplicitAdapter, make_peer  # noqa: E402
from benchmarks.retail import read_events  # noqa: E402
from recommendations.adapters import EventArrays  # noqa: E402
from recommendations.conf import app_settings  # noqa: E402
from recommendations.engine.cache import DEFAULT_MAX_BYTES, shared_fits  # noqa: E402
from recommendations.engine.interactions import apply_weighting, build_interactions  # noqa: E402
from recommendations.engine.metrics import evaluate  # noqa: E402
from recommendations.engine.split import holdout_new_items  # noqa: E402
from recommendations.selection import Candidate  # noqa: E402
from recommendations.training import (  # noqa: E402
    _fit,
    auxiliary_fit,
    holdout_evaluate,
    registered_algorithms,
    selection_search,
    training_data_prepare,
)

K = 20
#: The peers: implicit's item-kNN, ALS and BPR (as in offline.py) and a textbook EASE.
SHOP_PEERS = (*PEERS, "ease_reference")
#: Engine models that rank items for an item or need a follow graph, not for a user's history.
NOT_PERSONAL = ("cooccurrence", "similar_blend", "social_trust", "social_blend", "social_mf")
# Where the times say nothing, the training gets this one instant for every event.
NO_TIME = dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp()


@dataclass
class Split:
    """Train events (as the training reads them) and the test's new items, by index."""

    name: str
    protocol: str
    users: np.ndarray  # train events
    items: np.ndarray
    times: np.ndarray  # what the training sees: real times, or NO_TIME
    train: sp.csr_matrix  # the peers' and engine rows' input (summed counts)
    train_times: sp.csr_matrix
    test: sp.csr_matrix
    n_events: int


def _split(name: str, protocol: str, events: Any, train: np.ndarray, times: np.ndarray) -> Split:
    shape = {"n_users": events.n_users, "n_items": events.n_items}
    ones = np.ones(events.users.size)
    matrix, latest = build_interactions(
        events.users[train], events.items[train], ones[train], times=times[train], **shape
    )
    relevant, _ = build_interactions(
        events.users[~train], events.items[~train], ones[~train], **shape
    )
    return Split(
        name=name,
        protocol=protocol,
        users=events.users[train],
        items=events.items[train],
        times=times[train],
        train=matrix,
        train_times=latest,
        test=holdout_new_items(matrix, relevant),
        n_events=int(events.users.size),
    )


def time_split(events: Any, name: str, cutoff: dt.datetime) -> Split:
    """Train before ``cutoff``, test from it: the global time split."""
    train = events.times < cutoff.timestamp()
    return _split(name, f"global time split at {cutoff:%Y-%m-%d}", events, train, events.times)


def last_share_split(events: datasets.ShopEvents, share: float = 0.2) -> Split:
    """Each user's last ``share`` of events (at least one) as test; users with one event
    train only. The training sees no times."""
    starts = np.searchsorted(events.users, events.users, side="left")
    counts = np.bincount(events.users, minlength=events.n_users)[events.users]
    from_end = counts - (np.arange(events.users.size) - starts)
    block = np.maximum(1, np.floor(counts * share))
    train = ~((from_end <= block) & (counts > 1))
    return _split(
        events.name,
        f"each user's last {share:.0%} of events (times withheld from the training)",
        events,
        train,
        np.full(events.users.size, NO_TIME),
    )


def last_order_split(events: datasets.ShopEvents) -> Split:
    """Each user's last order (their latest time) as test, for users with two or more;
    the training sees order numbers (1, 2, ... per user) instead of dates, like a basket
    data set without absolute times."""
    starts = np.searchsorted(events.users, events.users, side="left")
    new_order = np.ones(events.users.size, dtype=bool)
    new_order[1:] = (events.users[1:] != events.users[:-1]) | (
        events.times[1:] != events.times[:-1]
    )
    numbers = np.cumsum(new_order)  # global order counter, then made per user
    numbers = numbers - numbers[starts] + 1
    last = np.zeros(events.n_users)
    np.maximum.at(last, events.users, numbers)
    train = ~((numbers == last[events.users]) & (last[events.users] > 1))
    return _split(
        events.name,
        "each user's last order (users with two or more; order numbers instead of dates)",
        events,
        train,
        numbers.astype(np.float64),
    )


class _Catalog:
    """The two attributes of a catalog model ``training_data_prepare`` reads."""

    def __init__(self, n_items: int) -> None:
        self._default_manager = self
        self.n_items = n_items

    def values_list(self, *fields: str, flat: bool = False) -> list[int]:
        return list(range(self.n_items))


class BenchAdapter:
    """The train events of a split, read as the training reads a shop's (no database)."""

    def __init__(self, split: Split) -> None:
        self.split = split

    def training_events(self) -> EventArrays:
        n = self.split.users.size
        return EventArrays(
            user_pk=self.split.users.astype(np.int64),
            item_pk=self.split.items.astype(np.int64),
            weight=np.ones(n),
            time=self.split.times.astype(np.float64),
            source=np.zeros(n, dtype=np.int8),
            sources=("purchase",),
        )

    def catalog_model(self) -> _Catalog:
        return _Catalog(self.split.train.shape[1])

    def user_features(self, user_pks: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((len(user_pks), 0), dtype=np.float32)

    def item_features(self, item_pks: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((len(item_pks), 0), dtype=np.float32)

    def social_edges(self) -> None:
        return None


def default_training(split: Split, share: bool = True) -> dict[str, Any]:
    """What the nightly training would serve, its time, and its score on the test."""
    # As in training_batch_run: identical fits (an EASE in the selection, the blend and
    # alone) are made once; without ``share`` (a baseline) every fit is made again.
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    with shared_fits(max_bytes=DEFAULT_MAX_BYTES if share else 0):
        result = _default_training(split)
    after = resource.getrusage(resource.RUSAGE_SELF)
    result["cpu"] = after.ru_utime + after.ru_stime - cpu.ru_utime - cpu.ru_stime
    return result


def _default_training(split: Split) -> dict[str, Any]:
    baseline = start_memory()
    started = time.perf_counter()
    data = training_data_prepare(adapter=BenchAdapter(split))  # type: ignore[arg-type]
    auxiliary_fit(data)
    selection = selection_search(data, base=app_settings.ALGORITHMS)
    selection_seconds = time.perf_counter() - started
    chosen = selection.best.candidate if selection and selection.best else None
    runs = [Candidate(name, params) for name, params in app_settings.ALGORITHMS.items()]
    if chosen is not None and chosen.key not in {run.key for run in runs}:
        runs.append(chosen)
    holdout: dict[str, Any] = {}
    fitted = {}
    for run in runs:
        metrics, _ = holdout_evaluate(run.algorithm, run.params, data)
        holdout[run.key] = metrics.get("ndcg")
        fitted[run.key] = _fit(run.algorithm, run.params, data, full=True)
        # What an artifact holds, serialised as the training does (without the storage).
        fitted[run.key].to_bytes()
    if chosen is None:
        # The folds could not decide: the training promotes the holdout's best.
        best_key = max(holdout, key=lambda key: -1.0 if holdout[key] is None else holdout[key])
    else:
        best_key = chosen.key
    seconds = time.perf_counter() - started
    peak = peak_growth_mb(baseline)
    served = fitted[best_key]
    # The training's rows are the users with a train event, in index order.
    test = split.test[data.user_pks]
    result = evaluate(served, data.matrix, test, K)
    result.update(
        fit=seconds,
        peak_mb=peak,
        selection_seconds=selection_seconds,
        served=best_key,
        holdout=holdout,
        report=None if selection is None else selection.report(),
        by="folds" if chosen is not None else "holdout",
    )
    return result


def run_model(name: str, split: Split) -> dict[str, Any]:
    """Fit one engine algorithm (defaults) or peer on the split's train; score the test."""
    baseline = start_memory()
    started = time.perf_counter()
    if name == "ease_reference":
        return _reference_ease(split, baseline, started)
    if name in PEERS:
        model = ImplicitAdapter(
            make_peer(name), apply_weighting(split.train, PEER_WEIGHTING[name])
        )
        with threadpool_limits(limits=1, user_api="blas"):
            model.model.fit(model.train, show_progress=False)
    else:
        model = registered_algorithms()[name]().fit(split.train, timestamps=split.train_times)
    fit = time.perf_counter() - started
    peak = peak_growth_mb(baseline)
    return {**evaluate(model, split.train, split.test, K), "fit": fit, "peak_mb": peak}


def _reference_ease(split: Split, baseline: int, started: float) -> dict[str, Any]:
    """The textbook EASE peer at the best ``l2`` of its grid on the test (peers at their
    best, as in ``BENCHMARK.md``); its fit time covers the decomposition and the grid."""
    model = ReferenceEASE(split.train)
    results = {l2: evaluate(model.use(l2), split.train, split.test, K) for l2 in L2_GRID}
    best = max(results, key=lambda l2: results[l2]["ndcg"])
    fit = time.perf_counter() - started
    peak = peak_growth_mb(baseline)
    grid = ", ".join(f"{l2:g}: {r['ndcg']:.4f}" for l2, r in results.items())
    return {**results[best], "fit": fit, "peak_mb": peak, "note": f"l2 {best:g}; {grid}"}


def load(name: str) -> Split:
    """The split of one data set by its short name."""
    if name == "retail":
        events = read_events()
        return time_split(events, "Online Retail", dt.datetime(2011, 11, 1, tzinfo=dt.UTC))
    if name == "grocery":
        cutoff = dt.datetime(2017, 12, 1, tzinfo=dt.UTC)
        events = datasets.complete_journey(before=cutoff.replace(tzinfo=None))
        return time_split(events, events.name + " (15,000 most bought products)", cutoff)
    if name == "grocery_last":
        events = datasets.complete_journey()
        return last_order_split(events)
    if name == "movielens":
        return last_share_split(datasets.movielens_100k())
    raise ValueError(f"Unknown data set {name!r}.")


def report(split: Split, results: dict[str, dict[str, Any]]) -> None:
    """One table per data set, then the selection's choice and fold scores."""
    users = next((r["users"] for r in results.values() if "users" in r), 0)
    print(
        f"\n### {split.name}: {split.n_events:,} events, {split.train.shape[0]:,} users x "
        f"{split.train.shape[1]:,} items; {split.protocol}; {users:,} test users\n"
    )
    peers = [r["ndcg"] for n, r in results.items() if n in SHOP_PEERS and "ndcg" in r]
    best_peer = max(peers) if peers else None
    print("| model | Recall@20 | NDCG@20 | Coverage@20 | fit s | peak MB | NDCG / best peer |")
    print("|---|---|---|---|---|---|---|")
    for name, r in results.items():
        if "error" in r:
            print(f"| {name} | failed: {r['error'][:160]} | | | | | |")
            continue
        ratio = f"{r['ndcg'] / best_peer:.2f}" if best_peer else "n/a"
        label = f"{name} ({r['note']})" if "note" in r else name
        print(
            f"| {label} | {r['recall']:.4f} | {r['ndcg']:.4f} | {r['coverage']:.3f} "
            f"| {r['fit']:.1f} | {r['peak_mb']:.0f} | {ratio} |"
        )
    served = results.get("default (served)", {})
    if "served" in served:
        print(
            f"\nDefault training: served {served['served']} (chosen by the {served['by']}); "
            f"{served['fit']:.1f} s in all ({served['cpu']:.1f} s of CPU), of which "
            f"{served['selection_seconds']:.1f} s reading, auxiliary models and selection."
        )
        holdout = ", ".join(
            f"{key}: {'-' if value is None else f'{value:.4f}'}"
            for key, value in served["holdout"].items()
        )
        print(f"Training holdout NDCG@20: {holdout}")
        selection = served["report"]
        if selection:
            print(
                f"Selection ({selection['folds']} folds: {'; '.join(selection['fold_labels'])}; "
                f"users {selection['fold_users']}; {selection['evaluations']} evaluated, "
                f"{selection['skipped']} skipped by the budget, {selection['elapsed_seconds']} s):"
            )
            for candidate in selection["candidates"]:
                folds = " / ".join(f"{s:.4f}" for s in candidate["fold_scores"])
                print(
                    f"- {candidate['algorithm']} {candidate['params']}: {candidate['score']:.4f} "
                    f"({folds}), {candidate['seconds']} s"
                )
            for failed in selection["failed"]:
                print(f"- {failed['algorithm']} {failed['params']}: {failed['error'][:120]}")
            if selection["margin"] is not None:
                interval = selection.get("margin_interval")
                within = (
                    f" (95% interval {interval[0]:+.4f} to {interval[1]:+.4f})" if interval else ""
                )
                print(f"Margin over the runner-up: {selection['margin']:+.4f}{within}")


def main(argv: list[str] | None = None) -> None:
    """Run every data set and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=["retail", "movielens", "grocery"])
    parser.add_argument("--models", nargs="*", help="engine models and peers (default: all)")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument(
        "--no-shared-fits",
        action="store_true",
        help="the default training without sharing identical fits (a baseline)",
    )
    parser.add_argument(
        "--budget",
        type=float,
        help="the selection's time budget in seconds (default: the setting's); on a loaded "
        "machine a wall-clock budget buys less work",
    )
    options = parser.parse_args(argv)
    if options.budget is not None:
        recommendations = dict(settings.RECOMMENDATIONS)
        recommendations["SELECTION"] = {
            **(recommendations.get("SELECTION") or {}),
            "TIME_BUDGET_SECONDS": options.budget,
        }
        settings.RECOMMENDATIONS = recommendations
    for name in options.only:
        started = time.perf_counter()
        split = load(name)
        print(f"  loaded {name} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
        results: dict[str, dict[str, Any]] = {}
        status, value = in_child(default_training, split, not options.no_shared_fits)
        results["default (served)"] = value if status == "ok" else {"error": value}
        engine_rows = [name for name in registered_algorithms() if name not in NOT_PERSONAL]
        models = [*engine_rows, *([] if options.no_peers else SHOP_PEERS)]
        for model in models:
            if options.models and model not in options.models:
                continue
            status, value = in_child(run_model, model, split)
            results[model] = value if status == "ok" else {"error": value}
            print(f"  done {name} / {model}", file=sys.stderr, flush=True)
        report(split, results)
        print(f"\n({name}: {time.perf_counter() - started:.0f} s)", flush=True)


if __name__ == "__main__":
    main()
