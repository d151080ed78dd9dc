"""EASE's history cap on Online Retail: which items a capped history keeps on ties.

    python benchmarks/history_cap.py

EASE (default parameters, plain and with a 120-day recency) on the offline split of
BENCHMARK.md with: no cap; the cap of 200 keeping the most recent of equal weights
(timestamps given at fit, the rule now); the same cap without timestamps (ties to the
higher item index); and the previous rule (ties to the lower item index).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.measure import limit_threads

limit_threads(2)

import scipy.sparse as sp  # noqa: E402  (after the thread caps)

from benchmarks.retail import load_split  # noqa: E402
from recommendations.engine.ease import EASERecommender  # noqa: E402
from recommendations.engine.itemknn import top_k_per_row  # noqa: E402
from recommendations.engine.metrics import evaluate  # noqa: E402

K = 20


class LowerIndexEASE(EASERecommender):
    """EASE with the previous tie rule of the cap: the lower item index."""

    def _capped(self, rows: sp.csr_matrix, times: Any = None) -> sp.csr_matrix:
        limit = self.max_history
        if limit is None or rows.nnz <= limit or max(rows.getnnz(axis=1)) <= limit:
            return rows
        return top_k_per_row(rows, int(limit))


def main() -> None:
    """Print NDCG@20 of each rule."""
    data = load_split()
    print("| EASE | history | NDCG@20 | Recall@20 |")
    print("|---|---|---|---|")
    for recency in (None, 120.0):
        label = "plain" if recency is None else "recency 120 d"
        rules = [
            ("no cap", EASERecommender, None, True),
            ("cap 200, ties to the most recent (timestamps)", EASERecommender, 200, True),
            ("cap 200, no timestamps: ties to the higher index", EASERecommender, 200, False),
            ("cap 200, previous rule: ties to the lower index", LowerIndexEASE, 200, True),
        ]
        for rule, klass, cap, dated in rules:
            if recency is not None and not dated:
                continue
            model = klass(max_history=cap, recency_half_life_days=recency)
            model.fit(data.train, timestamps=data.train_times if dated else None)
            result = evaluate(model, data.train, data.test, K)
            print(f"| {label} | {rule} | {result['ndcg']:.4f} | {result['recall']:.4f} |")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)
    main()
