"""CPU time of shoppers' first lists in one process: the cold path of the load test.

Signs in the ``--customers`` customers with the most orders (shuffled as
``http_load.py`` shuffles them; with ``--new-accounts``, as many accounts without any
history, as ``http_load.py --new-accounts`` makes them) through Django's test client and asks
``GET /api/recommendations/me/?n=20`` once for each, in a process started as a
gunicorn worker of ``http_load.py --warmup 0`` is (``gc.freeze()`` as ``config/wsgi.py``
does, ``warm_up()`` and ``gc.freeze()`` again as ``gunicorn.conf.py`` does when
the tree has them, then an anonymous list and the trivial endpoint); then once more for
each (warm), and with a shared cache once more as the other worker would (the lists
are in the cache, not in its memory). Prints the CPU time (``time.process_time``) per
request: median, p90, p99 and mean of each; the queries per cold request; with
``--profile`` the functions that took the most CPU time over the cold requests
(cProfile). CPU time is what a loaded machine does not change much, unlike wrk's
latencies (``gc_pauses.py`` measures the garbage collector's pauses).

Needs the demo database with a trained model (the same environment as
``http_load.py``: ``VAR_DIR``, ``SQLITE_PATH``, ``MEDIA_ROOT``). ``--tree DIR`` serves
with the code of another checkout of the project (a worktree of an older revision);
``--sign-in-only`` stops once the worker has started, before any request, so that
``instructions.py`` can count what the requests alone cost. Usage::

    CACHE_URL=locmem:// python benchmarks/cold_lists.py [--customers 200] [--new-accounts]
        [--profile] [--tree DIR] [--sign-in-only]
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import random
import statistics
import sys
import time
from pathlib import Path

from http_load import accounts_without_history
from served_env import production_env

ROOT = Path(__file__).resolve().parents[1]


def percentile(values: list[float], share: float) -> float:
    """The value below which ``share`` of ``values`` fall (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument(
        "--new-accounts",
        action="store_true",
        help="accounts without any history (load-shopper-<n>, as http_load.py makes them)",
    )
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--top", type=int, default=40, help="profile rows printed")
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout that serves")
    parser.add_argument(
        "--sign-in-only", action="store_true", help="stop before the first request"
    )
    args = parser.parse_args()

    sys.path.insert(0, str(args.tree.resolve()))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    for name, value in production_env("testserver").items():
        os.environ.setdefault(name, value)
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.cache import cache, caches
    from django.core.cache.backends.locmem import LocMemCache
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"anon": "1000000/min", "user": "1000000/min"},
    }
    users = get_user_model().objects
    if args.new_accounts:
        chosen = accounts_without_history(args.customers)
    else:
        chosen = list(users.annotate(n=Count("orders")).order_by("-n", "pk")[: args.customers])
    sessions = []
    for user in chosen:
        signing_in = Client()
        signing_in.force_login(user)
        sessions.append(signing_in.cookies)
    random.Random(0).shuffle(sessions)
    cache.clear()  # the sessions are written through to the database
    # The worker starts.
    from recommendations import selectors, serving

    gc.freeze()  # config/wsgi.py
    prepare = getattr(selectors, "warm_up", None)
    if prepare is not None:  # gunicorn.conf.py
        prepare()
        gc.freeze()
    # As a worker of http_load.py --warmup 0: the model and the catalog loaded by an
    # anonymous list, and the trivial endpoint served.
    # One client (one handler, its middleware loaded once, as in a worker), each
    # request with the next customer's session.
    client = Client()
    assert client.get("/api/recommendations/trending/?n=20").status_code == 200
    assert client.get("/api/health/").status_code == 200
    if args.sign_in_only:
        return 0

    url = "/api/recommendations/me/?n=20"
    # CPU time: on a shared machine wall time charges other processes to whatever ran.
    profiler = cProfile.Profile(time.process_time) if args.profile else None
    shared = not isinstance(caches["default"], LocMemCache)
    labels = ["cold", "warm"] + (["another worker"] if shared else [])
    figures: dict[str, list[float]] = {label: [] for label in labels}
    queries: list[int] = []
    for label in labels:
        if label == "another worker":
            # As the other worker of a shared cache: the lists and histories are there,
            # and it has not served them (its catalog and model are loaded).
            serving.process_state.served.clear()
        for cookies in sessions:
            client.cookies = cookies
            with CaptureQueriesContext(connection) as captured:
                if profiler is not None and label == "cold":
                    profiler.enable()
                start = time.process_time()
                response = client.get(url)
                spent = time.process_time() - start
                if profiler is not None:
                    profiler.disable()
            assert response.status_code == 200, response.status_code
            figures[label].append(spent * 1000)
            if label == "cold":
                queries.append(len(captured))
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
    print(f"{len(sessions)} customers, {backend}, load average {load}")
    print("| request | median CPU ms | p90 | p99 | mean |")
    print("|---|---|---|---|---|")
    for label, values in figures.items():
        print(
            f"| {label} | {statistics.median(values):.2f} | {percentile(values, 0.9):.2f} | "
            f"{percentile(values, 0.99):.2f} | {statistics.mean(values):.2f} |"
        )
    print(
        f"queries per cold request: median {statistics.median(queries):.0f}, "
        f"max {max(queries)}, total {sum(queries)}"
    )
    if profiler is not None:
        stats = pstats.Stats(profiler).sort_stats("cumulative")
        stats.print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
