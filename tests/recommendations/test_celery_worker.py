"""A real Celery worker on Redis trains from the test database and promotes a version."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery

from recommendations.models import TrainingLock, TrainingRun
from tests.processes import database_environment, process_stop
from tests.recommendations.test_training import make_small_shop

BROKER = "redis://127.0.0.1:6379/15"
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(transactional_db, settings, tmp_path):
    """A Celery worker subprocess on its own queue, stopped at the end."""
    settings.MEDIA_ROOT = tmp_path / "media"
    queue = f"test-training-{uuid.uuid4().hex[:8]}"
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "SQLITE_PATH"}},
        **database_environment(),
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "CELERY_BROKER_URL": BROKER,
        "CELERY_RESULT_BACKEND": BROKER,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "VAR_DIR": str(tmp_path / "var"),  # the demo keeps artifacts in VAR_DIR
        "PYTHONPATH": str(ROOT),
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "config", "worker",
                "--pool=solo", "--queues", queue, "--loglevel=INFO",
                "--without-gossip", "--without-mingle", "--without-heartbeat",
                "--hostname", f"{queue}@%h",
            ],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        yield queue, process, log
    finally:
        process_stop(process)


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_trains_and_promotes_through_the_broker(worker, settings, tmp_path):
    queue, process, log = worker
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    make_small_shop()
    client = Celery("test-client", broker=BROKER, backend=BROKER)

    try:
        result = client.send_task("recommendations.tasks.training_run_task", queue=queue)
        run_id = result.get(timeout=120)
    except Exception as exc:
        raise AssertionError(
            f"worker exit code {process.poll()}; log:\n{log.read_text()[-4000:]}"
        ) from exc
    finally:
        client.close()

    run = TrainingRun.objects.get(pk=run_id)
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert run.is_active and run.n_users == 24 and run.n_items == 12
    assert (tmp_path / "var" / run.artifact).is_file()
    assert not TrainingLock.objects.exists()
    # The worker logs the task outcome just after storing the result: give it a moment.
    expected = f"Task recommendations.tasks.training_run_task[{result.id}] succeeded"
    deadline = time.monotonic() + 10
    while expected not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert expected in log.read_text()
