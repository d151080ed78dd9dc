"""HTTP load benchmark: the signed-in recommendations endpoint against a trivial endpoint.

Serves the project with gunicorn (2 workers) on loopback, signs in as a real customer
of the demo data, and loads two endpoints in turn with ``wrk`` (Debian package
``wrk``), same connections and duration:

- baseline: ``GET /api/health/`` (a trivial DRF view);
- ``GET /api/recommendations/me/?n=20`` (the signed-in user's recommendations).

Prints requests per second and latency percentiles of both and their ratio, and
checks the targets: p99 under 25 ms and at least half the baseline throughput.

Needs the demo database with a trained model (run ``./bin/demo`` once, or
``python manage.py setup_demo``). Usage::

    python benchmarks/http_load.py [--duration 15] [--connections 8] [--customers 1]
        [--warmup 2] [--repeat 1]

With ``--customers N`` each request signs in as the next of N customers (in a fixed
shuffled order), so each one's first request in each worker computes their list
(history, model, rules, reasons) and the rest are served from the cache, as for a shop
with many shoppers. ``--new-accounts`` makes up a number above the shop's customers
with accounts that have no history yet (``--customers 10000 --new-accounts``).

Each run also counts the machine's stalls: a thread of this process that sleeps 5 ms
at a time notes every wake-up 50 ms or more late. Such a stall holds up every process
of the machine at once (a virtual machine's CPU quota spent, say) and shows in the p99
of both endpoints whatever they serve: read their p99 with it.

``--repeat R`` runs the whole measure R times, each with a new gunicorn, and judges
the targets on the median ratio and the median p99: on a shared 2-core machine one
pair of runs moves by a tenth either way. With ``--warmup 0`` each run starts with
nothing of the app cached (its keys are deleted from a shared cache; the shoppers'
sessions stay signed in).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from served_env import production_env

ROOT = Path(__file__).resolve().parents[1]
LATENCY_LINE = re.compile(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.MULTILINE)
TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def accounts_without_history(count: int) -> list[Any]:
    """``count`` accounts without any history (``load-shopper-<n>``), created once in the
    benchmark's database, as new shoppers signing up. Needs Django set up."""
    from django.contrib.auth import get_user_model

    model = get_user_model()
    names = [f"load-shopper-{n}" for n in range(count)]
    existing = set(model.objects.filter(username__in=names).values_list("username", flat=True))
    model.objects.bulk_create(
        [model(username=name) for name in names if name not in existing], batch_size=1000
    )
    return list(model.objects.filter(username__in=names))


def session_cookies(
    customer: str | None, customers: int, new_accounts: bool = False
) -> tuple[str, list[str]]:
    """Sign customers in through Django's test client: (who, one cookie per customer).

    One customer: ``customer``, or the one with the most orders. More: the
    ``customers`` customers with the most orders; with ``new_accounts``, accounts
    without any history (``load-shopper-<n>``, created once in the benchmark's database)
    make up the number when the shop has fewer customers, as new shoppers signing up.
    """
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db.models import Count
    from django.test import Client

    users = get_user_model().objects
    if customer:
        chosen = [users.get(username=customer)]
    else:
        chosen = list(users.annotate(n=Count("orders")).order_by("-n", "pk")[:customers])
        if new_accounts and len(chosen) < customers:
            known = {user.pk for user in chosen}
            fresh = accounts_without_history(customers - len(chosen))
            chosen += [user for user in fresh if user.pk not in known]
    if not chosen:
        raise SystemExit("No customer in the database: run ./bin/demo (setup_demo) first.")
    # Shoppers arrive in no particular order: the heaviest customers are not all first.
    random.Random(0).shuffle(chosen)
    cookies = []
    for user in chosen:
        client = Client()
        client.force_login(user)
        cookies.append(f"sessionid={client.cookies['sessionid'].value}")
    if len(chosen) == 1:
        who = chosen[0].username
    else:
        fresh = sum(user.username.startswith("load-shopper-") for user in chosen)
        who = f"{len(chosen)} customers in turn ({fresh} of them new accounts without history)"
    return who, cookies


def rotation_script(cookies: list[str], folder: Path) -> Path:
    """A wrk Lua script that sends each request with the next customer's cookie."""
    listed = ",\n".join(f'  "{cookie}"' for cookie in cookies)
    script = folder / "customers.lua"
    script.write_text(
        f"local cookies = {{\n{listed}\n}}\n"
        "local turn = 0\n"
        "request = function()\n"
        "  turn = turn % #cookies + 1\n"
        '  return wrk.format(nil, nil, {["Cookie"] = cookies[turn]})\n'
        "end\n"
    )
    return script


class StallProbe:
    """Notes when this process's sleeping thread wakes ``STALL_MS`` or more late: the
    machine stopped everything (it costs 200 short wake-ups a second)."""

    SLEEP_S = 0.005
    STALL_MS = 50.0

    def __init__(self) -> None:
        self.stalls: list[tuple[float, float]] = []  # (monotonic time, ms late)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.is_set():
            before = time.monotonic()
            time.sleep(self.SLEEP_S)
            late_ms = (time.monotonic() - before - self.SLEEP_S) * 1000
            if late_ms >= self.STALL_MS:
                self.stalls.append((time.monotonic(), late_ms))

    def between(self, start: float, end: float) -> list[float]:
        """How late each stall noted between ``start`` and ``end`` was (ms)."""
        return [late for at, late in self.stalls if start <= at <= end]

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def run_wrk(url: str, cookie: str | Path, duration: int, connections: int) -> dict[str, float]:
    """Load ``url`` with wrk and parse throughput and latency percentiles.

    ``cookie`` is one Cookie header, or a Lua script choosing one per request.
    """
    headers = ["-s", str(cookie)] if isinstance(cookie, Path) else ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(
        [
            "wrk",
            # One wrk thread drives 8 connections easily; a second would take CPU from
            # the two gunicorn workers on a 2-core machine.
            "-t1",
            f"-c{connections}",
            f"-d{duration}s",
            "--latency",
            *headers,
            url,
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    figures = {f"p{p}": float(v) * TO_MS[u] for p, v, u in LATENCY_LINE.findall(out)}
    figures["rps"] = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["errors"] = float(errors.group(1)) if errors else 0.0
    return figures


def app_cache_clear() -> None:
    """Delete what the app cached in the shared cache (lists, histories, generations,
    catalog and rules marks), not the sessions: each run starts as cold as a first one.
    Needs Django set up (``session_cookies``)."""
    from django.core.cache import cache
    from django.core.cache.backends.redis import RedisCache

    if isinstance(cache, RedisCache):
        client = cache._cache.get_client(write=True)
        stale = list(client.scan_iter(match="*recommendations:*", count=1000))
        for start in range(0, len(stale), 1000):
            client.delete(*stale[start : start + 1000])
    else:
        # A database cache (its sessions are rows of their own table) or one per process.
        cache.clear()


def measure(
    args: argparse.Namespace, env: dict[str, str], cookie: str | Path, probe: StallProbe
) -> tuple[dict[str, dict[str, float]], list[float]]:
    """One run: a new gunicorn, the warm-up, both endpoints; their figures and the
    workers' resident memory (MB)."""
    port = free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(f"{base}/api/health/")
        endpoints = {
            "trivial DRF endpoint (baseline)": f"{base}/api/health/",
            "signed-in recommendations": f"{base}/api/recommendations/me/?n=20",
        }
        if args.warmup:
            for url in endpoints.values():  # warm up: load the model in both workers
                run_wrk(url, cookie, args.warmup, args.connections)
        else:
            # No shopper's list before the measure: the workers only load the model and
            # the catalog, through an anonymous list, and serve the trivial endpoint.
            run_wrk(f"{base}/api/recommendations/trending/?n=20", "", 2, args.connections)
            run_wrk(endpoints["trivial DRF endpoint (baseline)"], "", 2, args.connections)
        results = {}
        for name, url in endpoints.items():
            start = time.monotonic()
            results[name] = run_wrk(url, cookie, args.duration, args.connections)
            stalls = probe.between(start, time.monotonic())
            results[name].update(stalls=len(stalls), longest=max(stalls, default=0.0))
        return results, workers_rss_mb(server.pid)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def free_port() -> int:
    """A loopback port free now (several benchmarks may share the machine)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def workers_rss_mb(pid: int) -> list[float]:
    """Resident memory (MB) of each worker process of the gunicorn ``pid`` (Linux)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if not children.exists():
        return []
    sizes = []
    for child in children.read_text().split():
        status = Path(f"/proc/{child}/status").read_text()
        kb = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        if kb:
            sizes.append(int(kb.group(1)) / 1024)
    return sizes


def wait_until_up(url: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer on {url}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--customer", help="username to sign in as (default: most orders)")
    parser.add_argument(
        "--customers",
        type=int,
        default=1,
        help="sign in this many customers (most orders first) and take turns: each "
        "one's first request in a worker computes their list",
    )
    parser.add_argument(
        "--new-accounts",
        action="store_true",
        help="with --customers above the shop's number of customers, create accounts "
        "without history (load-shopper-<n>) to make up the number",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=2,
        help="seconds of load before each measured run (with --customers, in turns over "
        "all of them: long enough for each one's first list, the steady state is measured); "
        "0: no shopper's list before the measure (the workers load the model through an "
        "anonymous list)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs, each with a new gunicorn (and, with --warmup 0, nothing of the app "
        "cached): the targets are judged on the median",
    )
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk).")

    env = {**os.environ, **production_env("127.0.0.1,localhost")}
    os.environ.update({k: env[k] for k in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS")})
    who, cookies = session_cookies(args.customer, max(1, args.customers), args.new_accounts)
    folder = Path(tempfile.mkdtemp(prefix="http-load-"))
    cookie: str | Path = cookies[0] if len(cookies) == 1 else rotation_script(cookies, folder)

    runs = []
    probe = StallProbe()
    try:
        for _ in range(args.repeat):
            if not args.warmup:
                app_cache_clear()
            runs.append(measure(args, env, cookie, probe))
    finally:
        probe.stop()
        shutil.rmtree(folder, ignore_errors=True)

    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"\nHTTP load: gunicorn 2 workers, wrk 1 thread x {args.connections} connections, "
        f"{args.duration} s each after {args.warmup} s of warm-up, signed in as {who}"
        + (f"; {args.repeat} runs, each with a new gunicorn" if args.repeat > 1 else "")
    )
    print(f"load average (1, 5, 15 min) after the run: {load}\n")
    print(
        "| run | endpoint | req/s | p50 ms | p90 ms | p99 ms | non-2xx "
        "| machine stalls >= 50 ms (longest) |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for number, (results, _rss) in enumerate(runs, 1):
        for name, r in results.items():
            print(
                f"| {number} | {name} | {r['rps']:.0f} | {r['p50']:.2f} | {r['p90']:.2f} | "
                f"{r['p99']:.2f} | {r['errors']:.0f} | {r['stalls']:.0f} ({r['longest']:.0f} ms) |"
            )
    rss = runs[-1][1]
    if rss:
        sizes = ", ".join(f"{size:.0f}" for size in rss)
        print(f"\nresident memory of each worker after the last run: {sizes} MB (target < 300)")
    ratios = [recs["rps"] / baseline["rps"] for baseline, recs in (r.values() for r, _ in runs)]
    p99s = [list(r.values())[1]["p99"] for r, _ in runs]
    errors = sum(list(r.values())[1]["errors"] for r, _ in runs)
    ratio, p99 = statistics.median(ratios), statistics.median(p99s)
    if len(runs) > 1:
        print("\nratio of each run: " + ", ".join(f"{value:.2f}" for value in ratios))
        print("p99 of each run: " + ", ".join(f"{value:.2f}" for value in p99s) + " ms")
    median = "median " if len(runs) > 1 else ""
    print(f"\n{median}throughput ratio recommendations / baseline: {ratio:.2f} (target >= 0.50)")
    print(f"{median}recommendations p99: {p99:.2f} ms (target < 25 ms)")
    ok = ratio >= 0.5 and p99 < 25 and errors == 0
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
