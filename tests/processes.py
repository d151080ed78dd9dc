"""Helpers for tests that start other processes (workers, servers) on the test database."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.db import connection

# What a developer's shell may set that would change a Django process a test starts.
SETTINGS_VARIABLES = (
    "DJANGO_SETTINGS_MODULE",
    "DATABASE_URL",
    "SQLITE_PATH",
    "CACHE_URL",
    "CELERY_BROKER_URL",
    "CELERY_RESULT_BACKEND",
    "DEBUG",
)


def inherited_environment(*also: str) -> dict[str, str]:
    """This process's environment without ``SETTINGS_VARIABLES`` and ``also``."""
    dropped = {*SETTINGS_VARIABLES, *also}
    return {k: v for k, v in os.environ.items() if k not in dropped}


def production_over_http() -> dict[str, str]:
    """Variables running config.settings as production does (DEBUG off), over plain HTTP."""
    return {
        "DEBUG": "0",
        "SECRET_KEY": settings.SECRET_KEY,  # sessions signed in by the test are read there
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SESSION_COOKIE_SECURE": "0",
        "CSRF_COOKIE_SECURE": "0",
    }


def database_environment() -> dict[str, str]:
    """Environment variables pointing config.settings at the database this process tests."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        name = str(db["NAME"])
        assert "memory" not in name, "other processes need a file-based SQLite test database"
        return {"SQLITE_PATH": name}
    assert connection.vendor == "postgresql", connection.vendor
    user, password = db.get("USER") or "", db.get("PASSWORD") or ""
    credentials = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host, port = db.get("HOST") or "127.0.0.1", db.get("PORT") or 5432
    return {"DATABASE_URL": f"postgres://{credentials}{host}:{port}/{db['NAME']}"}


def python_report(code: str, *, env: dict[str, str] | None = None) -> Any:
    """Run ``code`` in a fresh Python process at the project root; its last line, as JSON."""
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on (just now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def process_stop(process: subprocess.Popen) -> None:
    """Terminate a process started by a test, killing it if it does not end in time."""
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def server_wait_until_up(
    url: str, process: subprocess.Popen, diagnostics: Callable[[], str]
) -> None:
    """Return once the web server at ``url`` answers its health check; fail if it died."""
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"The web server exited:\n{diagnostics()}")
        try:
            if requests.get(f"{url}/api/health/", timeout=5).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    pytest.fail(f"The web server did not answer:\n{diagnostics()}")
