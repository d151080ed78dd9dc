"""CPU time of one warm request in process: the shopper's list against a trivial endpoint.

Calls the project's WSGI application directly (no server, no test client) as gunicorn
would, signed in as the customer with the most orders, for ``GET
/api/recommendations/me/?n=20`` (the list cached after the first request) and for the
trivial ``GET /api/health/``, in alternating batches so machine noise hits both alike.
Prints the median CPU time (``time.process_time``) per request of each, their
difference (what a warm list costs beyond the trivial endpoint) and the ratio of the
trivial endpoint's time to the list's (the throughput ratio ``http_load.py`` would see
with the CPU as the only limit). CPU time, not wall time: robust to other processes
loading the machine.

Runs with production settings (DEBUG off: Django keeps no query log) and the generous
throttle rates of ``http_load.py``; the throttle's counter is written on every request,
as served. Needs the demo database with a trained model (``./bin/demo`` once). Usage::

    CACHE_URL=locmem:// python benchmarks/warm_request.py [--rounds 15] [--batch 300]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from served_env import production_env

ROOT = Path(__file__).resolve().parents[1]


def _environ(path: str, query: str, cookie: str) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1",
        "HTTP_COOKIE": cookie,
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": sys.stderr,
        "wsgi.version": (1, 0),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def wsgi_caller(application: Callable, path: str, query: str, cookie: str) -> Callable[[], bytes]:
    """A call of ``application`` as gunicorn makes it: GET ``path?query`` with ``cookie``,
    the body read and closed; any answer but 200 stops the benchmark."""

    def start_response(status: str, headers: list, exc_info: Any = None) -> None:
        if not status.startswith("200"):
            raise SystemExit(f"{path}?{query} answered {status}")

    def call() -> bytes:
        response = application(_environ(path, query, cookie), start_response)
        try:
            return b"".join(response)
        finally:
            response.close()

    return call


def _batch_ms(call: Callable[[], bytes], size: int) -> float:
    """CPU milliseconds per request over ``size`` requests."""
    started = time.process_time()
    for _ in range(size):
        call()
    return (time.process_time() - started) * 1000 / size


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--batch", type=int, default=300)
    parser.add_argument(
        "--conn-max-age",
        type=int,
        help="keep database connections this many seconds (default: as configured; 0: "
        "each request connects, and on SQLite the last to close copies the WAL back)",
    )
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.update(production_env())
    import django

    django.setup()
    from django.conf import settings

    if args.conn_max_age is not None:  # before the first connection reads it
        settings.DATABASES["default"]["CONN_MAX_AGE"] = args.conn_max_age
    from django.contrib.auth import get_user_model
    from django.core.wsgi import get_wsgi_application
    from django.db.models import Count
    from django.test import Client

    user = get_user_model().objects.annotate(n=Count("orders")).order_by("-n", "pk").first()
    if user is None:
        raise SystemExit("No customer in the database: run ./bin/demo (setup_demo) first.")
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}"
    application = get_wsgi_application()
    health = wsgi_caller(application, "/api/health/", "", cookie)
    mine = wsgi_caller(application, "/api/recommendations/me/", "n=20", cookie)
    for _ in range(50):  # the model loaded, the list computed and cached, code warm
        health(), mine()

    times: dict[str, list[float]] = {"health": [], "mine": []}
    for _ in range(args.rounds):
        times["health"].append(_batch_ms(health, args.batch))
        times["mine"].append(_batch_ms(mine, args.batch))
    baseline, warm = (statistics.median(times[name]) for name in ("health", "mine"))
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(
        f"warm request CPU time, {args.rounds} rounds x {args.batch} requests each, "
        f"signed in as {user.username}, cache {os.environ.get('CACHE_URL', '(default)')}, "
        f"CONN_MAX_AGE {settings.DATABASES['default'].get('CONN_MAX_AGE', 0)}"
    )
    print(f"load average (1, 5, 15 min) after the run: {load}")
    print(f"trivial endpoint: {baseline * 1000:.0f} us per request (median of rounds)")
    print(f"warm list (n=20): {warm * 1000:.0f} us per request")
    print(f"list beyond trivial: {(warm - baseline) * 1000:.0f} us")
    print(f"CPU ratio trivial / list: {baseline / warm:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
