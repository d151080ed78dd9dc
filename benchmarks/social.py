"""Social recommendations: models with and without the trust or friend network.

    python benchmarks/social.py [--dataset ciaodvd|lastfm|yelp|gowalla|ciao|ciao_full|
        filmtrust|epinions_shaped|douban_shaped|csv] [--data DIR] [--mutual]
        [--only ease social_blend ...] [--protocol per-user|time] [--timing]
        [--export-csv DIR]

Data (get it with ``benchmarks/social_extract.py``; ``--data`` defaults to
``~/.cache/<dataset>``):

- ``ciaodvd``: ``movie-ratings.txt`` (userID, movieID, genreID, reviewID, movieRating,
  date) and ``trusts.txt`` (trustorID, trusteeID, trustValue). Ratings >= 4 are
  positives; a trust edge's row is the trustor.
- ``lastfm`` (HetRec 2011 Last.fm 2K): ``user_taggedartists.dat`` (userID, artistID,
  tagID, day, month, year): a user who tagged an artist has a positive, dated by the
  tag; ``user_friends.dat``: mutual friendships (each listed both ways).
- ``yelp`` (1,000 users of the Yelp check-in set of Liu et al., VLDB 2017):
  ``Yelp_check_ins.txt`` (user, business, Unix time of the visit's day): every visit is
  a positive; ``Yelp_social_relations.txt``: friendships, mutual on Yelp but listed
  once, so read both ways.
- ``gowalla`` (1,000 users of the Gowalla check-in set of Liu et al., VLDB 2017):
  ``Gowalla_checkins.txt`` (user, place, Unix time of the check-in) like Yelp's, and
  ``Gowalla_social_relations.txt``: the friendships of the whole set (18,737 users; the
  1,000 keep their ids), each listed once, read both ways.
- ``ciao`` (Tang et al.'s Ciao, WSDM 2012, a text export): ``rating.txt`` (userid,
  productid, categoryid, rating, helpfulness, Unix time) and ``trust.txt`` (truster,
  trustee). Ratings >= 4 are positives.
- ``ciao_full`` (the whole of Tang et al.'s dated Ciao: 7,375 users, 284,086 ratings;
  ``ciao`` has its trust file but 36,065 ratings under other ids): the same columns in
  ``rating_with_timestamp.mat`` and ``trust.mat`` (MATLAB files, read with scipy).
- ``filmtrust`` (Guo et al.'s FilmTrust, IJCAI 2013): ``ratings.txt`` (userID, movieID,
  rating from 0.5 to 4) and ``trust.txt`` (trustorID, trusteeID, trustValue), directed.
  Ratings >= 3.5 (the scale's top two steps) are positives. It has no dates: see
  below.
- ``epinions_shaped``, ``douban_shaped``: no files; seeded synthetic sets of the dated
  Epinions' and of Douban's size, whose catalogs EASE refuses (for the training's time
  and memory only).
- ``csv`` (any other data set; ``--data`` required): ``positives.csv``, a header
  ``user,item[,time]`` and a row per positive (``time``: Unix seconds or ISO dates; none:
  per-user protocol only, as FilmTrust), and ``relations.csv``, a header ``user,related``
  and a row per trust or follow edge (``--mutual``: friendships, each read both ways).
  Keys may be any strings. ``--export-csv DIR`` writes any data set above in this format;
  read back, it gives the same figures.

All: one positive per user and item (the earliest), items with >= 3 positive users
are kept, and relation edges between two kept users are the social matrix.

Two protocols, k = 20, new items only:

- ``per-user``: every user with >= 2 positives holds out the last ceil(20%) by date
  (ties in file order); every such user is scored.
- ``time``: the positives after the 80% quantile of the dates are held out, every user
  with a train item and a held-out one is scored; the social models only see the trust
  network (no data set dates its edges).

A data set without dates (FilmTrust) has the per-user protocol only, each user's held-out
20% drawn at random (seeded), and the models get no timestamps.

Per row: NDCG@20 over all scored users, over those who trust someone (``trust``: have
a relation), over those who trust nobody (``alone``), over those with <= 2 train items
who trust someone (``cold``), the fit's wall and CPU seconds and the social blend's
learned weights and time scale (and whether its per-user gate was kept, with the gate's
and the weights' validation NDCG; for the default, ``social_rerank``, whether its
re-ranker was kept for cold and for warm users, with the validation NDCG with and
without it, and which models its users without votes get). After the rows: the default
against the best non-social row, overall and on the users who trust nobody (with the
90% paired bootstrap interval of that ratio: such users are often few), and against
popularity on the cold users. ``--timing`` only times the social trainings on every
positive. The
``implicit`` peers run when the package imports (a separate virtualenv: ``pip install
implicit==0.7.3``); the engine needs no Django, so this script runs in such a
virtualenv with the project on ``PYTHONPATH``.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "2")
os.environ.setdefault("OMP_NUM_THREADS", "2")
if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np
import scipy.sparse as sp

from recommendations.engine import CatalogTooLargeError, registered
from recommendations.engine.metrics import ndcg_per_user, paired_bootstrap

K = 20
SECONDS_PER_DAY = 86_400.0
#: Row name -> (registered engine name, parameters); "trust_baseline" and the implicit
#: peers are computed here.
MODELS: dict[str, tuple[str, dict[str, Any]]] = {
    "popularity": ("popularity", {}),
    "item_knn": ("item_knn", {}),
    "user_knn": ("user_knn", {}),
    "rp3beta": ("rp3beta", {}),
    "ease": ("ease", {}),
    "social_trust": ("social_trust", {}),
    "social_trust taste": ("social_trust", {"taste_smoothing": 0.1}),
    "social_blend item_knn": ("social_blend", {"collaborative": ("item_knn", {})}),
    "social_blend ease w=2": ("social_blend", {"weight": 2.0}),
    "social_blend time validation": (
        "social_blend",
        {"validation": "time", "validation_fraction": 0.1},
    ),
    "social_blend one fold, no recency": (
        "social_blend",
        {"validation_folds": 1, "recency_grid": (None,)},
    ),
    "social_blend no gate": ("social_blend", {"gate": False}),
    "social_blend (before)": ("social_blend", {}),
    "social_rerank (default)": ("social_rerank", {}),
    "social_rerank kept when ahead": ("social_rerank", {"rerank_confidence": None}),
    "social_rerank on item_knn": ("social_rerank", {"collaborative": ("item_knn", {})}),
    "social_rerank on user_knn": ("social_rerank", {"collaborative": ("user_knn", {})}),
    "als": ("als", {}),
    "social_mf": ("social_mf", {}),
}
NON_SOCIAL = (
    "popularity",
    "item_knn",
    "user_knn",
    "rp3beta",
    "ease",
    "als",
)
DEFAULT = "social_rerank (default)"
PROTOCOLS = ("per-user", "time")
PEERS = ("implicit_cosine", "implicit_als")
#: The social models ``--timing`` trains (``--only`` names others).
TIMED = ("social_blend", "social_rerank", "social_mf")


@dataclass
class Split:
    """One protocol's matrices: train, held-out new items, trust, the scored users and
    the train times (None: the data set has no dates)."""

    train: sp.csr_matrix
    test: sp.csr_matrix
    social: sp.csr_matrix
    users: np.ndarray
    times: sp.csr_matrix | None


def read_ciao(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """CiaoDVD's positives (raw user, movie, day; ratings >= 4) and trust edges."""
    ratings = np.genfromtxt(folder / "movie-ratings.txt", delimiter=",", dtype=str)
    user, item = ratings[:, 0].astype(np.int64), ratings[:, 1].astype(np.int64)
    day = np.array(ratings[:, 5], dtype="datetime64[D]").astype(np.int64)
    positive = ratings[:, 4].astype(float) >= 4
    trusts = np.loadtxt(folder / "trusts.txt", delimiter=",", dtype=np.int64, ndmin=2)
    return user[positive], item[positive], day[positive], trusts[:, :2]


def read_filmtrust(folder: Path) -> tuple[np.ndarray, np.ndarray, None, np.ndarray]:
    """FilmTrust's positives (raw user, movie; ratings >= 3.5 of 0.5-4; no dates) and
    its directed trust edges."""
    ratings = np.loadtxt(folder / "ratings.txt", dtype=np.float64, ndmin=2)
    positive = ratings[:, 2] >= 3.5
    user, item = ratings[:, 0].astype(np.int64), ratings[:, 1].astype(np.int64)
    trusts = np.loadtxt(folder / "trust.txt", dtype=np.int64, ndmin=2)
    return user[positive], item[positive], None, trusts[:, :2]


def read_lastfm(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """HetRec 2011 Last.fm's positives (raw user, artist, day of a tag assignment) and
    friend edges (listed both ways in the file)."""
    tags = np.loadtxt(folder / "user_taggedartists.dat", skiprows=1, dtype=np.int64, ndmin=2)
    month = ((tags[:, 5] - 1970) * 12 + tags[:, 4] - 1).astype("datetime64[M]")
    day = (month.astype("datetime64[D]") + (tags[:, 3] - 1)).astype(np.int64)
    friends = np.loadtxt(folder / "user_friends.dat", skiprows=1, dtype=np.int64, ndmin=2)
    return tags[:, 0], tags[:, 1], day, friends[:, :2]


def read_lbsn(
    folder: Path, visits_file: str, friends_file: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A check-in set of Liu et al.: visits (raw user, place, day) and friend edges, each
    friendship read both ways (mutual on the site; the file lists each once)."""
    visits = np.loadtxt(folder / visits_file, dtype=np.float64, ndmin=2)
    day = np.floor(visits[:, 2] / SECONDS_PER_DAY).astype(np.int64)
    friends = np.loadtxt(folder / friends_file, dtype=np.int64, ndmin=2)
    both = np.vstack([friends[:, :2], friends[:, 1::-1]])
    return visits[:, 0].astype(np.int64), visits[:, 1].astype(np.int64), day, both


def read_yelp(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The Yelp check-in set's visits and friendships."""
    return read_lbsn(folder, "Yelp_check_ins.txt", "Yelp_social_relations.txt")


def read_gowalla(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The Gowalla check-in set's visits (its first 1,000 users) and friendships (of all
    its users; ``prepare`` keeps those between two of the 1,000)."""
    return read_lbsn(folder, "Gowalla_checkins.txt", "Gowalla_social_relations.txt")


def tang_positives(
    ratings: np.ndarray, trusts: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Positives (raw user, product, day; ratings >= 4) of Tang et al.'s rating rows
    (user, product, category, rating, helpfulness, Unix time) and the trust edges (the
    truster's row)."""
    ratings = np.asarray(ratings, dtype=np.float64)
    positive = ratings[:, 3] >= 4
    day = np.floor(ratings[:, 5] / SECONDS_PER_DAY).astype(np.int64)
    user, item = ratings[:, 0].astype(np.int64), ratings[:, 1].astype(np.int64)
    edges = np.asarray(trusts, dtype=np.int64)[:, :2]
    return user[positive], item[positive], day[positive], edges


def read_tang_ciao(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tang et al.'s Ciao, the text export (every number written as a float)."""
    ratings = np.loadtxt(folder / "rating.txt", dtype=np.float64, ndmin=2)
    trusts = np.loadtxt(folder / "trust.txt", dtype=np.float64, ndmin=2)
    return tang_positives(ratings, trusts)


def read_tang_mat(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Tang et al.'s MATLAB files: the one matrix of ``rating_with_timestamp.mat`` and
    of ``trust.mat`` (variable names differ between data sets)."""
    from scipy.io import loadmat

    def matrix(name: str) -> np.ndarray:
        (value,) = [v for k, v in loadmat(folder / name).items() if not k.startswith("__")]
        return value

    return tang_positives(matrix("rating_with_timestamp.mat"), matrix("trust.mat"))


def synthetic_positives(
    n_users: int, n_items: int, n_positives: int, n_edges: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A seeded synthetic data set: positives of users of log-normal activity on items of
    Zipf-like popularity over 11 years, and edges towards active users. For the
    training's time and memory on a shop of that size, not for quality."""
    rng = np.random.default_rng(0)
    activity = rng.lognormal(0.0, 1.2, n_users)
    popularity = 1.0 / (np.arange(n_items) + 20.0)
    user = rng.choice(n_users, n_positives, p=activity / activity.sum())
    item = rng.choice(n_items, n_positives, p=popularity / popularity.sum())
    day = rng.integers(0, 4_000, n_positives)
    follower = rng.integers(0, n_users, n_edges)
    followed = rng.choice(n_users, n_edges, p=activity / activity.sum())
    return user, item, day, np.column_stack([follower, followed])


def read_epinions_shaped(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`synthetic_positives` of the dated Epinions' size (Tang et al.: about 22,000
    users, 296,000 products, 922,000 ratings, 356,000 trust edges), which no mirror here
    holds whole; its catalog is above EASE's ``max_items`` after the filters. ``folder``
    is not read."""
    return synthetic_positives(22_000, 296_000, 700_000, 356_000)


def read_douban_shaped(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`synthetic_positives` of about Douban's size (129,000 users, 58,000 movies,
    9 million positives, 1.7 million relations). ``folder`` is not read."""
    return synthetic_positives(129_000, 58_000, 9_000_000, 1_700_000)


#: The files of a data set in the plain format (``--dataset csv``).
CSV_POSITIVES = "positives.csv"
CSV_RELATIONS = "relations.csv"
# prepare() keys a pair as user * 10**7 + item: integer keys at or above are renumbered.
MAX_KEPT_ID = 10**7


def _ids(values: list[str]) -> np.ndarray:
    """Keys as int64: integers in [0, 10**7) as they are (a file written by
    ``--export-csv`` reads back to the same rows), anything else numbered in sorted
    order."""
    try:
        # Only plain integers: "007" and "7" are two keys to a file that writes both.
        ints = np.array([int(v) if str(int(v)) == v else None for v in values], dtype=np.int64)
    except (ValueError, TypeError):
        ints = None
    if ints is not None and (not ints.size or (ints.min() >= 0 and ints.max() < MAX_KEPT_ID)):
        return ints
    _, numbered = np.unique(np.array(values, dtype=str), return_inverse=True)
    return numbered.astype(np.int64)


def _days(values: list[str]) -> np.ndarray:
    """Days since 1970 of Unix times in seconds or of ISO dates ("2011-12-09",
    "2011-12-09T08:30:00")."""
    try:
        seconds = np.array([float(v) for v in values], dtype=np.float64)
    except ValueError:
        stamps = np.array([v.strip()[:10] for v in values], dtype="datetime64[D]")
        return stamps.astype(np.int64)
    return np.floor(seconds / SECONDS_PER_DAY).astype(np.int64)


def _csv_columns(path: Path, required: Sequence[str], optional: Sequence[str]) -> dict:
    """The named columns of a CSV file with a header row, as lists of strings."""
    with path.open(newline="", encoding="utf-8-sig") as file:  # a BOM is not the header
        reader = csv.reader(file)
        header = [name.strip().lower() for name in next(reader, [])]
        missing = [name for name in required if name not in header]
        if missing:
            raise SystemExit(f"{path}: no column {', '.join(missing)} in its header {header}")
        wanted = [name for name in (*required, *optional) if name in header]
        at = [header.index(name) for name in wanted]
        columns: dict[str, list[str]] = {name: [] for name in wanted}
        for number, row in enumerate(reader, start=2):
            if not row:
                continue
            if len(row) < len(header):
                expected = len(header)
                raise SystemExit(f"{path}, line {number}: {len(row)} fields, expected {expected}")
            for name, index in zip(wanted, at, strict=True):
                columns[name].append(row[index])
    return columns


def read_csv(folder: Path, mutual: bool = False) -> tuple[np.ndarray, np.ndarray, Any, np.ndarray]:
    """Any data set in the plain format: ``positives.csv`` (header ``user,item`` and
    optionally ``time``: Unix seconds or ISO dates; every row a positive) and
    ``relations.csv`` (header ``user,related``: ``user`` trusts or follows ``related``;
    ``mutual``: each row read both ways). Keys may be any strings; without ``time`` the
    data set has the per-user protocol only, as FilmTrust."""
    positives = _csv_columns(folder / CSV_POSITIVES, ("user", "item"), ("time",))
    relations = _csv_columns(folder / CSV_RELATIONS, ("user", "related"), ())
    n = len(positives["user"])
    # Users of both files share one numbering.
    users = _ids([*positives["user"], *relations["user"], *relations["related"]])
    user, trustor, trustee = np.split(users, [n, n + len(relations["user"])])
    item = _ids(positives["item"])
    day = _days(positives["time"]) if "time" in positives else None
    edges = np.column_stack([trustor, trustee]).astype(np.int64).reshape(-1, 2)
    if mutual:
        edges = np.vstack([edges, edges[:, ::-1]])
    return user, item, day, edges


def export_csv(
    folder: Path, user: np.ndarray, item: np.ndarray, day: Any, edges: np.ndarray
) -> None:
    """Write a data set as its reader gives it in the plain format (times at midnight of
    their day), so ``--dataset csv`` on the files gives the same figures."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / CSV_POSITIVES).open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["user", "item", *(["time"] if day is not None else [])])
        times = [] if day is None else [int(d * SECONDS_PER_DAY) for d in day.tolist()]
        for row, (u, i) in enumerate(zip(user.tolist(), item.tolist(), strict=True)):
            writer.writerow([u, i, *([times[row]] if times else [])])
    with (folder / CSV_RELATIONS).open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["user", "related"])
        writer.writerows(edges[:, :2].tolist())
    print(f"wrote {user.size:,} positives and {len(edges):,} relation edges to {folder}")


#: Data set name -> reader of its folder.
READERS = {
    "ciaodvd": read_ciao,
    "lastfm": read_lastfm,
    "yelp": read_yelp,
    "ciao": read_tang_ciao,
    "ciao_full": read_tang_mat,
    "gowalla": read_gowalla,
    "filmtrust": read_filmtrust,
    "epinions_shaped": read_epinions_shaped,
    "douban_shaped": read_douban_shaped,
    "csv": read_csv,
}


def prepare(
    user, item, day, relations
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    """(user row, item column, day) of the kept positives in file order, and the edges.

    One positive per pair (the earliest; file order among equal days), items with >= 3
    positive users; an edge is kept when both of its users are. ``day`` None (no dates)
    stays None.
    """
    dated = day is not None
    day = day if dated else np.zeros(user.size, np.int64)
    order = np.lexsort((np.arange(user.size), day, item, user))
    _, first = np.unique(user[order] * 10**7 + item[order], return_index=True)
    keep = np.sort(order[first])
    user, item, day = user[keep], item[keep], day[keep]
    _, item_cols, counts = np.unique(item, return_inverse=True, return_counts=True)
    popular = counts[item_cols] >= 3
    user, item, day = user[popular], item[popular], day[popular]
    user_ids, user_rows = np.unique(user, return_inverse=True)
    _, item_cols = np.unique(item, return_inverse=True)
    trustor = np.searchsorted(user_ids, relations[:, 0]).clip(0, user_ids.size - 1)
    trustee = np.searchsorted(user_ids, relations[:, 1]).clip(0, user_ids.size - 1)
    known = (user_ids[trustor] == relations[:, 0]) & (user_ids[trustee] == relations[:, 1])
    edges = np.unique(np.column_stack([trustor[known], trustee[known]]), axis=0)
    return user_rows, item_cols, day if dated else None, edges


def make_split(protocol: str, user, item, day, edges) -> Split:
    """The train and test matrices of ``protocol`` ("per-user" or "time"; without dates,
    ``day`` None, per-user only, a seeded random 20% of each user held out)."""
    n_users, n_items = int(user.max()) + 1, int(item.max()) + 1
    if day is None and protocol != "per-user":
        raise ValueError("a data set without dates has no time split")
    if protocol == "per-user":
        key = day if day is not None else np.random.default_rng(0).permutation(user.size)
        order = np.lexsort((np.arange(user.size), key, user))
        counts = np.bincount(user, minlength=n_users)
        start = np.concatenate([[0], np.cumsum(counts)[:-1]])
        rank = np.empty(user.size, dtype=np.int64)
        rank[order] = np.arange(user.size) - start[user[order]]
        held_out = np.where(counts >= 2, np.ceil(0.2 * counts), 0).astype(np.int64)
        test_mask = rank >= counts[user] - held_out[user]
    else:
        test_mask = day > np.quantile(day, 0.8)

    def matrix(mask: np.ndarray, values: np.ndarray) -> sp.csr_matrix:
        return sp.csr_matrix((values[mask], (user[mask], item[mask])), shape=(n_users, n_items))

    train = matrix(~test_mask, np.ones(user.size, np.float32))
    times = None
    if day is not None:
        times = matrix(~test_mask, (day * SECONDS_PER_DAY + SECONDS_PER_DAY).astype(np.float64))
    test = sp.csr_matrix(matrix(test_mask, np.ones(user.size, np.float32)) - train)
    test.data = np.clip(test.data, 0, None)
    test.eliminate_zeros()
    has_test = np.diff(test.indptr) > 0
    users = np.flatnonzero(has_test & ((np.diff(train.indptr) > 0) | (protocol == "per-user")))
    social = sp.csr_matrix(
        (np.ones(len(edges), np.float32), (edges[:, 0], edges[:, 1])), shape=(n_users, n_users)
    )
    social.data[:] = 1.0
    return Split(train, test, social, users, times)


def trust_baseline(split: Split) -> np.ndarray:
    """The issue's baseline: the positives of trusted users, plus 2 hops at 0.1, then
    popularity (a tie-break far below one vote)."""
    rows = split.social[split.users]
    reach = rows + 0.1 * (rows @ split.social)
    votes = np.asarray((reach @ split.train).toarray(), dtype=np.float64)
    popularity = np.diff(split.train.tocsc().indptr).astype(np.float64)
    return votes + 1e-6 * popularity[None, :]


def top_lists(scores: np.ndarray, train: sp.csr_matrix, users: np.ndarray) -> np.ndarray:
    """The best ``K`` unseen items of every row of scores."""
    scores = np.array(scores, dtype=np.float64)
    seen = train[users].nonzero()
    scores[seen] = -np.inf
    return np.argsort(-scores, axis=1, kind="stable")[:, :K]


def run(name: str, split: Split) -> tuple[np.ndarray, float, float, str]:
    """Top lists of the scored users, the fit's wall and CPU seconds, what was learned."""
    started, cpu = time.perf_counter(), time.process_time()
    if name == "trust_baseline":
        lists = top_lists(trust_baseline(split), split.train, split.users)
        return lists, time.perf_counter() - started, time.process_time() - cpu, ""
    if name in PEERS:
        from implicit.als import AlternatingLeastSquares
        from implicit.nearest_neighbours import CosineRecommender

        model = (
            CosineRecommender(K=50)
            if name == "implicit_cosine"
            else AlternatingLeastSquares(
                factors=64, alpha=1.0, regularization=0.01, iterations=15, random_state=0
            )
        )
        model.fit(split.train, show_progress=False)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        ids, _ = model.recommend(split.users, split.train[split.users], N=K)
        return np.asarray(ids, dtype=np.int64), elapsed, cpu, ""
    algorithm, params = MODELS[name]
    model = registered()[algorithm](**params).fit(
        split.train, timestamps=split.times, social=split.social
    )
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    lists = np.vstack(
        [
            model.recommend_batch(split.users[i : i + 1000], K)[0]
            for i in range(0, split.users.size, 1000)
        ]
    )
    learned = ""
    if hasattr(model, "regularization_"):
        learned = f"regularization {model.regularization_:g}"
    if hasattr(model, "cold_weight_"):
        learned = f"weight {model.weight_:g}, cold {model.cold_weight_:g}"
        if np.isfinite(model.agreement_threshold_):
            learned += (
                f", agreed {model.agreed_weight_:g} (agreement > {model.agreement_threshold_:.2f})"
            )
        if model.recency_days_ is not None:
            learned += f", recency {model.recency_days_:g} d"
        if getattr(model, "gate_validation_ndcg_", None) is not None:
            learned += (
                f", gate {'kept' if model.gate_ is not None else 'refused'} "
                f"(validation {model.gate_validation_ndcg_:.4f} vs {model.validation_ndcg_:.4f})"
            )
    if getattr(model, "alone_choice_", None):
        tried = model.alone_validation_
        learned += f", alone {model.alone_choice_}"
        if tried.size:
            learned += f" (validation {tried.max():.4f} vs {tried[0]:.4f} for the first set)"
    if getattr(model, "rerank_validation_ndcg_", None) is not None:
        cold = "kept" if model.rerank_cold_ else "refused"
        warm = "kept" if model.rerank_warm_ else "refused"
        segments = (
            f"cold {model.rerank_cold_validation_ndcg_ or 0:.4f}, "
            f"warm {model.rerank_warm_validation_ndcg_ or 0:.4f}"
        )
        learned += (
            f", re-ranker cold {cold}, warm {warm} (validation {model.rerank_validation_ndcg_:.4f}"
            f" vs {model.blend_validation_ndcg_:.4f}; re-ranked {segments})"
        )
    return lists, elapsed, cpu, learned


def timing(user, item, day, edges, names: Sequence[str] = TIMED) -> None:
    """Wall and CPU seconds of the social trainings ``names`` (defaults) on every
    positive: the fit, and the fit with the artifact's bytes (``to_bytes``)."""
    n_users, n_items = int(user.max()) + 1, int(item.max()) + 1
    interactions = sp.csr_matrix(
        (np.ones(user.size, np.float32), (user, item)), shape=(n_users, n_items)
    )
    times = None
    if day is not None:
        times = sp.csr_matrix(
            ((day * SECONDS_PER_DAY + SECONDS_PER_DAY).astype(np.float64), (user, item)),
            shape=(n_users, n_items),
        )
    social = sp.csr_matrix(
        (np.ones(len(edges), np.float32), (edges[:, 0], edges[:, 1])), shape=(n_users, n_users)
    )
    social.data[:] = 1.0
    print(f"\nload average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    for name in names:
        started, cpu = time.perf_counter(), time.process_time()
        model = registered()[name]().fit(interactions, timestamps=times, social=social)
        fitted, fit_cpu = time.perf_counter() - started, time.process_time() - cpu
        # What a training saves: a model that kept its weights factored forms them here.
        model.to_bytes()
        print(
            f"{name} (defaults) on all {user.size:,} positives: fit {fitted:.1f} s wall, "
            f"{fit_cpu:.1f} s CPU; with its artifact {time.perf_counter() - started:.1f} s "
            f"wall, {time.process_time() - cpu:.1f} s CPU"
        )
        del model  # its dense weights would weigh on the next fit
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")


def alone_interval(default: np.ndarray, best: np.ndarray) -> str:
    """The 90% paired bootstrap interval of ``default / best`` (means over users), or
    nothing when there is no user or ``best`` scores 0."""
    if not default.size or best.mean() <= 0:
        return ""
    _, low, high = paired_bootstrap(default, best, confidence=0.9, random_state=0)
    scale = best.mean()
    return (
        f" (90% interval {(scale + low) / scale:.2f}x-{(scale + high) / scale:.2f}x, "
        f"{default.size:,} users)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=sorted(READERS), default="ciaodvd")
    parser.add_argument("--data", type=Path, help="folder of the files (~/.cache/<dataset>)")
    parser.add_argument("--only", nargs="*", help="row names to run (default: all)")
    parser.add_argument(
        "--protocol", choices=PROTOCOLS, help="run this protocol only (default: both)"
    )
    parser.add_argument(
        "--timing",
        action="store_true",
        help="only time the social trainings (--only: which of social_blend, social_rerank, "
        "social_mf)",
    )
    parser.add_argument(
        "--mutual",
        action="store_true",
        help="--dataset csv: each row of relations.csv is a friendship, read both ways",
    )
    parser.add_argument(
        "--export-csv",
        type=Path,
        metavar="DIR",
        help="write the data set in the plain format of --dataset csv to DIR and stop",
    )
    args = parser.parse_args()
    if args.dataset == "csv" and not args.data:
        parser.error("--dataset csv needs --data DIR (positives.csv and relations.csv)")
    folder = args.data or Path(f"~/.cache/{args.dataset}").expanduser()
    read = READERS[args.dataset]
    raw = read(folder, mutual=args.mutual) if read is read_csv else read(folder)
    if args.export_csv:
        export_csv(args.export_csv, *raw)
        return
    user, item, day, edges = prepare(*raw)
    if args.timing:
        timing(user, item, day, edges, args.only or TIMED)
        return
    try:
        import implicit  # noqa: F401

        peers = PEERS
    except ImportError:
        peers = ()
        print("implicit is not installed: the peers are left out.")
    names = [*MODELS, "trust_baseline", *peers]
    if args.only:
        names = [n for n in names if n in args.only]
    print(
        f"{args.dataset}: {user.size:,} positives, {user.max() + 1:,} users x "
        f"{item.max() + 1:,} items, {len(edges):,} relation edges between them"
    )
    protocols = [args.protocol] if args.protocol else PROTOCOLS
    if day is None:
        if "time" in protocols:
            print("No dates in this data set: the time split is left out.")
        protocols = [p for p in protocols if p == "per-user"]
    for protocol in protocols:
        split = make_split(protocol, user, item, day, edges)
        trusts = np.diff(split.social.indptr)[split.users] > 0
        cold = trusts & (np.diff(split.train.indptr)[split.users] <= 2)
        print(
            f"\n### {protocol}: {split.users.size:,} users scored, {trusts.sum():,} trust "
            f"someone, {cold.sum():,} of them with <= 2 train items\n"
        )
        print("| model | NDCG@20 | trust | alone | cold | fit s | CPU s | learned |")
        print("|---|---|---|---|---|---|---|---|")
        results = {}
        for name in names:
            try:
                lists, elapsed, cpu, learned = run(name, split)
            except CatalogTooLargeError as exc:
                print(f"| {name} | refused: {exc} |", flush=True)
                continue
            ndcg = ndcg_per_user(lists, split.test[split.users], K)
            results[name] = ndcg
            print(
                f"| {name} | {ndcg.mean():.4f} | {ndcg[trusts].mean():.4f} | "
                f"{ndcg[~trusts].mean():.4f} | {ndcg[cold].mean():.4f} | {elapsed:.1f} | "
                f"{cpu:.1f} | {learned} |",
                flush=True,
            )
        if DEFAULT in results:
            best = max(
                (n for n in results if n in NON_SOCIAL or n in peers),
                key=lambda n: results[n].mean(),
                default=None,
            )
            default = results[DEFAULT]
            lines = []
            if best is not None:
                base = results[best]
                lines += [
                    f"default / best non-social ({best}): {default.mean() / base.mean():.2f}x",
                    f"default / {best} on users who trust nobody: "
                    f"{default[~trusts].mean() / base[~trusts].mean():.3f}x"
                    + alone_interval(default[~trusts], base[~trusts]),
                ]
            if "popularity" in results and cold.any():
                pop = results["popularity"][cold].mean()
                ratio = default[cold].mean() / pop if pop else float("inf")
                lines.append(f"default / popularity on cold users who trust someone: {ratio:.2f}x")
            print("\n" + "\n".join(lines))


if __name__ == "__main__":
    main()
