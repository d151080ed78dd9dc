"""Similar products against bought together: do the two blocks mean different things?

Trains the item-to-item models exactly as a training run does (``training_data_prepare``
then ``auxiliary_fit``) on the demo database, then, for ``--products`` products drawn at
random (fixed seed) from the ``--best`` best sellers, compares the top ``--k`` of the
similar block with the top ``--k`` of the bought-together block: how many items they
share, and how many of each are in the product's own category (alternatives are; a
complement may be). "before" is what both blocks showed until now: item-kNN over users
(the old ``SIMILAR_ALGORITHM``), one model for both. Also prints how often the top
bought-together items were bought in one order with the product.

Needs the demo database with the Online Retail data imported (``./bin/demo`` once, or
``manage.py import_online_retail``); nothing is written to it. Usage::

    python benchmarks/bought_together.py [--products 200] [--best 500] [--k 8]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=200)
    parser.add_argument("--best", type=int, default=500)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    import django

    django.setup()
    from recommendations import engine
    from recommendations.adapters import get_adapter
    from recommendations.baskets import basket_matrix
    from recommendations.conf import app_settings
    from recommendations.training import auxiliary_fit, training_data_prepare

    started = time.perf_counter()
    data = training_data_prepare()
    print(
        f"{data.n_events:,} events, {data.matrix.shape[0]:,} users x {data.matrix.shape[1]:,} "
        f"items (read in {time.perf_counter() - started:.1f} s)"
    )
    started = time.perf_counter()
    auxiliary = auxiliary_fit(data)
    print(
        f"auxiliary_fit (similar, trending, popularity, bought together): "
        f"{time.perf_counter() - started:.1f} s"
    )
    similar = engine.load(auxiliary["similar"])
    bought_together = engine.load(auxiliary["bought_together"])
    min_support = float(app_settings.TRUST_MIN_SUPPORT)
    # Today's similar block, which the bought-together block also showed.
    before = engine.registered()["item_knn"](min_support=min_support)
    print(f"before: item_knn over users fitted in {_seconds(before.fit, data.matrix):.2f} s")
    refit = type(similar)(**similar.get_params())
    seconds = _seconds(refit.fit, data.matrix, item_features=data.item_features)
    print(f"similar = {type(similar).__name__} {similar.get_params()}, fitted in {seconds:.2f} s")
    trusted = basket_matrix(
        data.events, data.user_idx, data.item_idx, data.trust, n_items=data.matrix.shape[1]
    )
    refit = type(bought_together)(**bought_together.get_params())
    seconds = _seconds(refit.fit, trusted)
    print(
        f"bought together = {type(bought_together).__name__} {bought_together.get_params()}, "
        f"fitted in {seconds:.2f} s on {trusted.shape[0]:,} baskets"
    )

    adapter = get_adapter()
    categories = adapter.category_values(data.item_pks.tolist())
    category = np.asarray([categories.get(pk) or "" for pk in data.item_pks.tolist()])
    buyers = np.diff(data.matrix.tocsc().indptr)
    best = np.argsort(-buyers, kind="stable")[: args.best]
    rng = np.random.default_rng(args.seed)
    chosen = rng.choice(best, size=min(args.products, best.size), replace=False)

    # Orders x items, binary: how often a listed item was in an order with the product.
    baskets = basket_matrix(
        data.events, data.user_idx, data.item_idx, None, n_items=data.matrix.shape[1]
    )
    baskets.data[:] = 1.0
    orders_of = baskets.tocsc()
    k = args.k
    rows: dict[str, list[float]] = {
        "overlap before": [],
        "overlap now": [],
        "before in category": [],
        "similar in category": [],
        "bought together in category": [],
        "before: P's orders holding it": [],
        "similar: P's orders holding it": [],
        "bought together: P's orders holding it": [],
    }
    lengths = {"before": [], "similar": [], "bought together": []}
    for col in chosen.tolist():
        lists = {
            "before": before.similar_items(col, k)[0],
            "similar": similar.similar_items(col, k)[0],
            "bought together": bought_together.similar_items(col, k)[0],
        }
        for name, items in lists.items():
            lengths[name].append(items.size)
            if items.size:
                rows[f"{name} in category"].append(
                    float(np.mean(category[items] == category[col]))
                )
                orders = orders_of.indices[orders_of.indptr[col] : orders_of.indptr[col + 1]]
                holding = np.asarray(baskets[orders][:, items].sum(axis=0)).ravel()
                rows[f"{name}: P's orders holding it"].append(
                    float(np.mean(holding) / orders.size)
                )
        rows["overlap before"].append(1.0)  # one model behind both blocks
        rows["overlap now"].append(
            len(set(lists["similar"].tolist()) & set(lists["bought together"].tolist())) / k
        )
    print()
    print(
        f"{chosen.size} products drawn from the {best.size} best sellers (seed {args.seed}), "
        f"top {k} of each block"
    )
    print("| measure | mean | median |")
    print("|---|---|---|")
    for name, values in rows.items():
        print(f"| {name} | {np.mean(values):.1%} | {statistics.median(values):.1%} |")
    for name, values in lengths.items():
        print(
            f"| {name}: items per list | {np.mean(values):.2f} | {statistics.median(values):.0f} |"
        )
    names = dict(
        adapter.catalog_model()
        ._default_manager.filter(pk__in=data.item_pks[best[:3]].tolist())
        .values_list("pk", app_settings.LABEL_FIELD or "pk")
    )
    labels = {}
    for col in best[:3].tolist():
        lists = {
            "similar": similar.similar_items(col, k)[0],
            "bought together": bought_together.similar_items(col, k)[0],
        }
        keys = data.item_pks[np.concatenate(list(lists.values()))].tolist()
        labels.update(
            adapter.catalog_model()
            ._default_manager.filter(pk__in=keys)
            .values_list("pk", app_settings.LABEL_FIELD or "pk")
        )
        print(f"\n{names[data.item_pks[col].item()]}:")
        for name, items in lists.items():
            shown = ", ".join(f"{labels[data.item_pks[i].item()]}" for i in items[:5])
            print(f"  {name}: {shown}")
    return 0


def _seconds(function, *args, **kwargs) -> float:
    """Wall time of one call."""
    started = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - started


if __name__ == "__main__":
    raise SystemExit(main())
