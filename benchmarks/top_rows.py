"""Time of ``social_gate.top_rows`` against a partition of whole rows, on the shapes the
social blend's validation folds rank.

Each case is a (rows x items) score matrix like a fold's: dense scores (a collaborative
model), sparse scores over a tie of zeros (the social votes, a user with few scored
items), with a block of -inf (the items a user already has). The baseline is what
``top_rows`` did before: ``argpartition`` of the negated rows, then a sort of the ``k``.
Both run in turn, ``--repeat`` times, in this process; the table gives the best time of
each and the ratio. Usage::

    python benchmarks/top_rows.py [--rows 1000] [--items 17784] [--repeat 5]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from recommendations.engine.social_gate import top_rows


def partitioned(scores: np.ndarray, k: int) -> np.ndarray:
    """The baseline: the ``k`` best of each row by a partition of the whole row."""
    k = min(k, scores.shape[1])
    part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    best = np.take_along_axis(scores, part, axis=1)
    return np.take_along_axis(part, np.argsort(-best, axis=1, kind="stable"), axis=1)


def cases(rows: int, items: int) -> list[tuple[str, np.ndarray]]:
    """Score matrices of each shape, float32, seeded."""
    rng = np.random.default_rng(0)
    made = []
    for name, density in (("dense", 1.0), ("1% scored", 0.01), ("0.05% scored", 0.0005)):
        scores = rng.random((rows, items), dtype=np.float32)
        scores[rng.random(scores.shape) > density] = 0.0
        owned = rng.random((rows, min(50, items))) < 0.5
        scores[:, : owned.shape[1]][owned] = -np.inf
        made.append((name, scores))
    return made


def best_time(function, scores: np.ndarray, k: int, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function(scores, k)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--items", type=int, default=17784)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"{args.rows:,} rows x {args.items:,} items, best of {args.repeat}\n")
    print("| scores | k | partition ms | top_rows ms | partition / top_rows | same values |")
    print("|---|---|---|---|---|---|")
    for name, scores in cases(args.rows, args.items):
        for k in (20, 100):
            baseline = best_time(partitioned, scores, k, args.repeat)
            ours = best_time(top_rows, scores, k, args.repeat)
            # Equal entries may be taken in another order: the values must agree.
            same = np.array_equal(
                np.take_along_axis(scores, partitioned(scores, k), axis=1),
                np.take_along_axis(scores, top_rows(scores, k), axis=1),
            )
            print(
                f"| {name} | {k} | {baseline * 1000:.0f} | {ours * 1000:.0f} | "
                f"{baseline / ours:.1f}x | {same} |"
            )


if __name__ == "__main__":
    main()
