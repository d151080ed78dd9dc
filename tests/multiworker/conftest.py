"""gunicorn with two worker processes on the embedded defaults, serving the test database.

The server runs ``config.settings`` as production would without ``CACHE_URL``: DEBUG
off, collected static files, the database cache and database sessions. What it serves
is committed by each test (the server cannot see into a test's transaction) and
flushed after it. Each request carries an ``X-Probe`` header that the
access log records with the answering worker's pid, so a test can check that both
workers answered the requests it makes its point with.
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import connection
from django.test import Client

from tests.factories import CategoryFactory, ProductFactory
from tests.processes import (
    database_environment,
    free_port,
    inherited_environment,
    process_stop,
    production_over_http,
    server_wait_until_up,
)

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 2
# gunicorns started side by side, each with WORKERS workers (see Server).
SERVERS = 2
# Enough requests that both workers answer some; at most this many to see them both.
MIN_REQUESTS = 20
MAX_REQUESTS = 200
# Rates of the server: day-long windows, so one rarely ends during a test (see below).
ANON_RATE = 10
LOGIN_ATTEMPTS_PER_ACCOUNT = 3
WINDOW = 86400
PRODUCTS = 12
CATEGORIES = 4
# What the developer's shell may set that would change the server under test.
_OVERRIDES = (
    "NUM_PROXIES",
    "THROTTLE_ANON",
    "THROTTLE_USER",
    "LOGIN_ATTEMPTS_PER_ACCOUNT",
    "LOGIN_ATTEMPTS_PER_ADDRESS",
    "LOGIN_ATTEMPTS_WINDOW",
)
_ACCESS = re.compile(r"^<(?P<pid>\d+)> (?P<probe>\S+) (?P<status>\d+)$")


def _manage(args: list[str], env: dict[str, str]) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@dataclass
class Server:
    """The running gunicorns: their addresses and the access log naming each answer's worker.

    Two gunicorns of two workers each, over one access log: requests alternate between
    them, so every point a test makes is served by at least two processes, however the
    kernel hands connections to the workers of one server.
    """

    urls: list[str]
    access_log: Path
    processes: list[subprocess.Popen]
    error_log: Path

    @property
    def url(self) -> str:
        return self.urls[0]

    def answers(self, probe: str, expected: int) -> list[tuple[str, int]]:
        """(worker pid, status) of the ``expected`` requests tagged ``probe``, in order."""
        deadline = time.monotonic() + 30
        while True:
            # A worker logs a request just after answering it: wait for the last lines.
            lines = self.access_log.read_text().splitlines()
            found = [
                (match["pid"], int(match["status"]))
                for match in map(_ACCESS.match, lines)
                if match and match["probe"] == probe
            ]
            if len(found) >= expected or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def diagnostics(self) -> str:
        return self.error_log.read_text()[-4000:]


@dataclass
class Shopper:
    """One browser: a cookie jar, and a probe tag on every request it sends."""

    server: Server
    session: requests.Session = field(default_factory=requests.Session)
    probe: str = field(default_factory=lambda: uuid.uuid4().hex)
    sent: dict[str, int] = field(default_factory=dict)
    turn: int = 0

    def request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"X-Probe": self.probe, **kwargs.pop("headers", {})}
        if method == "POST" and "csrftoken" in self.session.cookies:
            headers.setdefault("X-CSRFToken", self.session.cookies["csrftoken"])
        self.sent[self.probe] = self.sent.get(self.probe, 0) + 1
        self.turn += 1
        return self.session.request(
            method,
            self.server.urls[self.turn % len(self.server.urls)] + path,
            headers=headers,
            allow_redirects=False,
            timeout=60,
            **kwargs,
        )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def sign_in_as(self, user: Any) -> None:
        """Sign in without a password check: a session written to the shared database."""
        self.csrf()
        client = Client()
        client.force_login(user)
        self.session.cookies.set(
            settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value
        )

    def csrf(self) -> None:
        """Get a CSRF cookie, which POSTs send back in ``X-CSRFToken``."""
        assert self.get("/login/").status_code == 200
        assert "csrftoken" in self.session.cookies

    def phase(self, name: str) -> str:
        """Tag the next requests ``name`` (for :meth:`workers`)."""
        self.probe = f"{uuid.uuid4().hex}-{name}"
        return self.probe

    def workers(self) -> set[str]:
        """The worker pids that answered the requests of the current phase."""
        answers = self.server.answers(self.probe, self.sent.get(self.probe, 0))
        return {pid for pid, _status in answers}

    def until_both_workers(self, send: Any) -> list[Any]:
        """Call ``send()`` at least MIN_REQUESTS times, until both workers answered one."""
        results = [send() for _ in range(MIN_REQUESTS)]
        while len(self.workers()) < WORKERS and len(results) < MAX_REQUESTS:
            results += [send() for _ in range(10)]
        assert len(self.workers()) >= WORKERS, f"one worker answered {len(results)} requests"
        return results


@pytest.fixture(scope="session")
def static_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Static files collected once, as production serves them with DEBUG off."""
    folder = tmp_path_factory.mktemp("multiworker")
    return folder / "static"


@pytest.fixture(scope="module")
def server(
    django_db_setup: Any, django_db_blocker: Any, static_root: Path, tmp_path_factory: Any
) -> Iterator[Server]:
    """Two gunicorns of two workers on the embedded defaults, over a small committed catalog."""
    folder = tmp_path_factory.mktemp("gunicorn")
    env = {
        **inherited_environment(*_OVERRIDES),
        **database_environment(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **production_over_http(),
        "VAR_DIR": str(folder),
        "STATIC_ROOT": str(static_root),
        "MEDIA_ROOT": str(folder / "media"),
        "THROTTLE_ANON": f"{ANON_RATE}/day",
        "THROTTLE_USER": "100000/day",
        "LOGIN_ATTEMPTS_PER_ACCOUNT": str(LOGIN_ATTEMPTS_PER_ACCOUNT),
        "LOGIN_ATTEMPTS_PER_ADDRESS": "1000",
        "LOGIN_ATTEMPTS_WINDOW": str(WINDOW),
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    if not (static_root / "staticfiles.json").exists():
        _manage(["collectstatic", "--no-input", "-v0"], env)
    _manage(["createcachetable"], env)  # as bin/demo does
    access_log, error_log = folder / "access.log", folder / "error.log"
    assert _is_test_database(), connection.settings_dict["NAME"]
    processes: list[subprocess.Popen] = []
    try:
        urls = []
        for _ in range(SERVERS):
            port = free_port()
            command = [
                sys.executable, "-m", "gunicorn", "config.wsgi",
                "--workers", str(WORKERS), "--bind", f"127.0.0.1:{port}",
                "--access-logfile", str(access_log),
                "--access-logformat", "%(p)s %({x-probe}i)s %(s)s",
                "--error-logfile", str(error_log), "--timeout", "120",
            ]  # fmt: skip
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
            urls.append(f"http://127.0.0.1:{port}")
        running = Server(urls, access_log, processes, error_log)
        for url, process in zip(urls, processes, strict=True):
            server_wait_until_up(url, process, running.diagnostics)
        yield running
    finally:
        for process in processes:
            process_stop(process)
        with django_db_blocker.unblock():
            _cache_table_clear()


def _is_test_database() -> bool:
    """Whether this process is connected to the test database (not the developer's)."""
    name = str(connection.settings_dict["NAME"])
    test_name = (connection.settings_dict.get("TEST") or {}).get("NAME")
    return name == str(test_name) if test_name else name.startswith("test_")


def _cache_table_clear() -> None:
    # The test database is flushed after each test; the cache table is no model's.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_cache")


def _catalog_create() -> None:
    # Several categories: a list shows at most MAX_PER_CATEGORY items of one.
    categories = [
        CategoryFactory(name=f"Multiworker {c}", slug=f"multiworker-{c}")
        for c in range(CATEGORIES)
    ]
    for i in range(PRODUCTS):
        ProductFactory(
            name=f"MW-Product-{i:02d}",
            sku=f"MW{i:02d}",
            category=categories[i % CATEGORIES],
            price=Decimal("2.50"),
            stock_quantity=1000,
        )


@pytest.fixture
def committed(server: Server, transactional_db: None) -> None:
    """A small catalog, committed: the server cannot see into a test's transaction.

    What the test writes is committed too; the database is flushed after the test.
    """
    _cache_table_clear()
    _catalog_create()


@pytest.fixture
def shopper(server: Server, committed: None) -> Shopper:
    return Shopper(server)


def window_left(duration: int = WINDOW) -> float:
    """Seconds left in the current counting window (the server's clock is this one)."""
    return duration - time.time() % duration


@pytest.fixture
def one_window() -> None:
    """Start in a window with a minute left at least, so the test stays inside it.

    A counter starts again at each window; ending one mid-test would allow the rate
    twice. That can happen in the last minute of a (UTC) day only: then wait it out.
    """
    if window_left() < 60:
        time.sleep(window_left() + 0.1)
