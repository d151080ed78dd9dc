"""Django processes for the fault tests and the lock benchmark: start, kill, inspect.

The generic parts (environment, ports, stopping) live in :mod:`tests.processes`.

They share a database with the test: the test database on PostgreSQL (the test must
be transactional), a fresh migrated file on SQLite (whose test database lives in
memory).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.db import connection

from tests.processes import database_environment, inherited_environment

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = "tests.recommendations.faults_settings"


def process_env(folder: Path, *, database_url: str, **extra: str) -> dict[str, str]:
    """Environment of a Django process on ``database_url`` with artifacts in ``folder``."""
    env = inherited_environment()
    env.update(
        DJANGO_SETTINGS_MODULE=SETTINGS,
        DATABASE_URL=database_url,
        FAULTS_ARTIFACT_ROOT=str(folder / "var"),
        LOG_LEVEL="WARNING",
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


def manage(env: dict[str, str], *args: str, check: bool = False) -> subprocess.CompletedProcess:
    """Run ``manage.py args`` to completion."""
    return subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=check,
        timeout=600,
    )


def shared_database(folder: Path) -> str:
    """A database URL the test and its processes share, migrated and holding a small shop."""
    if connection.vendor == "postgresql":
        url = database_environment()["DATABASE_URL"]
    else:
        url = f"sqlite:///{folder / 'shared.sqlite3'}"
        manage(process_env(folder, database_url=url), "migrate", "--no-input", check=True)
    seed = "from tests.recommendations.test_training import make_small_shop; make_small_shop()"
    manage(process_env(folder, database_url=url), "shell", "-c", seed, check=True)
    return url


def database_state(env: dict[str, str]) -> dict[str, Any]:
    """The training lock and the runs, as another process reads them."""
    code = (
        "import json\n"
        "from recommendations.models import TrainingLock, TrainingRun\n"
        "print(json.dumps({'lock': list(TrainingLock.objects.values('holder', 'process')),"
        " 'runs': list(TrainingRun.objects.order_by('pk').values("
        "'pk', 'algorithm', 'status', 'error', 'is_active'))}))"
    )
    result = manage(env, "shell", "-c", code, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def start_blocked_training(env: dict[str, str], marker: Path) -> subprocess.Popen:
    """Start ``train_recommendations`` and return once it holds the lock, stopped midway."""
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "train_recommendations"],
        env={**env, "FAULTS_BLOCK_MARKER": str(marker)},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while not marker.exists():
        if process.poll() is not None:
            raise AssertionError(f"The training ended early: {process.stderr.read()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("The training never reached its events.")
        time.sleep(0.05)
    return process
