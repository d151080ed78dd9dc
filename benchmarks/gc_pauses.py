"""Garbage-collector pauses of a web worker serving many shoppers, with and without the warm-up.

Runs, in a fresh process each, what one gunicorn worker does for ``--customers``
signed-in shoppers asking ``GET /api/recommendations/me/?n=20`` in turn
(``--rounds`` times; Django's test client, the real URL, middleware and view), after:

- ``import``: ``gc.freeze()`` at import (``config/wsgi.py``) only; the model and the
  catalog are loaded by the first request, after the freeze;
- ``warm-up``: as ``gunicorn.conf.py``'s ``post_worker_init`` does besides:
  ``selectors.warm_up()`` and ``gc.freeze()`` again.

Prints, per mode, the CPU seconds of the requests, in-process latency percentiles and,
per generation, the collections, their total and their longest pause (``gc.callbacks``).
Needs the demo database with a trained model (``./bin/demo`` once). Usage::

    python benchmarks/gc_pauses.py [--customers 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from served_env import production_env
from warm_request import wsgi_caller

ROOT = Path(__file__).resolve().parents[1]
MODES = ("import", "warm-up", "warm-up, thresholds")
PATH, QUERY = "/api/recommendations/me/", "n=20"
ENV = production_env(log_level="ERROR")
# Fewer, larger young collections and rarer full ones (CPython's are 700, 10, 10).
THRESHOLDS = (
    int(os.environ.get("GC_T0", 7000)),
    int(os.environ.get("GC_T1", 10)),
    int(os.environ.get("GC_T2", 100)),
)


def serve(mode: str, customers: int, rounds: int) -> dict[str, object]:
    """One worker's run in this process (``mode`` one of MODES): its figures."""
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.handlers.wsgi import WSGIHandler
    from django.db.models import Count
    from django.test import Client

    from recommendations.selectors import warm_up

    users = get_user_model().objects.annotate(n=Count("orders")).order_by("-n", "pk")
    sessions = []
    for user in users[:customers]:
        client = Client()
        client.force_login(user)
        sessions.append(client.cookies[settings.SESSION_COOKIE_NAME].value)
    gc.collect()
    gc.freeze()  # config/wsgi.py
    if mode.startswith("warm-up"):
        warm_up()
        gc.freeze()
    if mode.endswith("thresholds"):
        gc.set_threshold(*THRESHOLDS)
    pauses: dict[int, list[float]] = {0: [], 1: [], 2: []}
    started = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            pauses[info["generation"]].append((time.perf_counter() - started[0]) * 1000)

    application = WSGIHandler()  # what gunicorn calls: no test client in the way
    calls = [
        wsgi_caller(application, PATH, QUERY, f"{settings.SESSION_COOKIE_NAME}={session}")
        for session in sessions
    ]
    latencies = []
    gc.callbacks.append(timed)
    cpu = time.process_time()
    for _ in range(rounds):
        for call in calls:
            begun = time.perf_counter()
            call()
            latencies.append((time.perf_counter() - begun) * 1000)
    cpu = time.process_time() - cpu
    gc.callbacks.remove(timed)
    latencies.sort()

    def at(share: float) -> float:
        return latencies[int(share * (len(latencies) - 1))]

    return {
        "cpu": cpu,
        "requests": len(latencies),
        "p50": at(0.5),
        "p99": at(0.99),
        "p999": at(0.999),
        "gc": {g: (len(p), sum(p), max(p, default=0.0)) for g, p in pauses.items()},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one child's run
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(serve(args.mode, args.customers, args.rounds)))
        return 0
    env = {**os.environ, **ENV}
    results = {}
    for mode in MODES:
        command = [sys.executable, "-W", "ignore", __file__, "--mode", mode]
        command += ["--customers", str(args.customers), "--rounds", str(args.rounds)]
        output = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
        results[mode] = json.loads(output.stdout.strip().splitlines()[-1])
    print(
        f"\n{args.customers} shoppers x {args.rounds} rounds, /me/?n=20 in process (load "
        f"average {os.getloadavg()[0]:.1f})\n"
    )
    print("Each generation: collections, their total ms, the longest ms.\n")
    print("| mode | CPU s | p50 / p99 / p99.9 ms | gen 0 | gen 1 | gen 2 |")
    print("|---|---:|---|---|---|---|")
    for mode, r in results.items():
        gens = [f"{n}, {total:.0f}, {longest:.1f}" for n, total, longest in r["gc"].values()]
        print(
            f"| {mode} | {r['cpu']:.2f} | {r['p50']:.2f} / {r['p99']:.2f} / {r['p999']:.2f} | "
            + " | ".join(gens)
            + " |"
        )
    base = results["import"]["cpu"]
    for mode in MODES[1:]:
        print(f"CPU ratio {mode} / import: {results[mode]['cpu'] / base:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
