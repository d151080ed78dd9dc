"""Anonymous throttle under rotating ``X-Forwarded-For``, across two gunicorn workers.

Serves the project with gunicorn (2 workers, ``DEBUG=0``, the embedded defaults: the
database cache and SQLite) on a fresh database in a temporary folder, then posts
anonymous product views to ``/api/recommendations/events/`` from a few threads, each
request with a new random ``X-Forwarded-For``, for ``--seconds``. Prints how many were
accepted and refused in each throttle window against the configured anonymous rate.

Usage::

    python benchmarks/throttle_rotation.py [--seconds 60] [--rate 120/min] [--threads 4]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PORT = 8766


def _env(folder: Path, rate: str) -> dict[str, str]:
    # The embedded defaults in the temporary folder: never a database, cache or media
    # folder of the caller's (another benchmark's counters would count here too).
    inherited = ("CACHE_URL", "DATABASE_URL", "SQLITE_PATH", "MEDIA_ROOT")
    env = {k: v for k, v in os.environ.items() if k not in inherited}
    env.update(
        DEBUG="0",
        SECRET_KEY="throttle-benchmark-only",
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="0",
        VAR_DIR=str(folder),
        THROTTLE_ANON=rate,
        LOG_LEVEL="ERROR",
    )
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout.strip()


def _post(product: str) -> int:
    address = ".".join(str(random.randint(1, 254)) for _ in range(4))
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/api/recommendations/events/",
        data=json.dumps({"product": product, "kind": "view"}).encode(),
        headers={"Content-Type": "application/json", "X-Forwarded-For": address},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--rate", default="120/min")
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = _env(folder, args.rate)
        _manage(env, "migrate", "--noinput")
        _manage(env, "createcachetable")
        product = _manage(
            env,
            "shell",
            "-c",
            "from shop.models import Category, Product;"
            "c = Category.objects.create(name='Bench', slug='bench');"
            "print(Product.objects.create(sku='B1', name='Bench', category=c,"
            " price=1, stock_quantity=5).pk)",
        ).splitlines()[-1]
        server = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "2",
                "--bind", f"127.0.0.1:{PORT}", "--log-level", "warning",
            ],
            cwd=ROOT, env=env,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{PORT}/api/health/", timeout=5)
                    break
                except OSError:  # not listening yet, or still starting
                    time.sleep(0.2)
            window = 60.0 if args.rate.endswith(("/min", "/m")) else 1.0
            counts: Counter[tuple[int, int]] = Counter()
            lock = threading.Lock()
            stop = time.time() + args.seconds

            def load() -> None:
                while time.time() < stop:
                    status = _post(product)
                    with lock:
                        counts[(int(time.time() // window), status)] += 1

            threads = [threading.Thread(target=load) for _ in range(args.threads)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(f"anonymous rate {args.rate}, 2 gunicorn workers, a new X-Forwarded-For each request")
    windows = sorted({key[0] for key in counts})
    for number in windows:
        accepted = sum(n for (w, status), n in counts.items() if w == number and status < 300)
        refused = counts[(number, 429)]
        other = sum(
            n
            for (w, status), n in counts.items()
            if w == number and status >= 300 and status != 429
        )
        shown = number - windows[0] + 1
        print(f"window {shown}: accepted {accepted}, refused {refused}, other {other}")


if __name__ == "__main__":
    main()
