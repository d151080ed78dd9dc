"""Several machines: two web servers and a Celery worker that share only the database,
Redis and an S3 bucket.

Each process gets folders of its own (``VAR_DIR``, ``MEDIA_ROOT``), as on separate
machines, so nothing holds because one of them wrote a local file another reads. One
gunicorn loads the app before forking its worker (``--preload``), the other in it. The
servers name the version that chose each list in the ``X-Recommendations-Run`` header;
a version is served by every process ``RELOAD_INTERVAL`` seconds after it is committed
(the test waits that long after seeing it in the database, then asks each server once).
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from celery import Celery
from django.conf import settings
from django.test import Client

from recommendations.api.views import RUN_HEADER
from recommendations.models import TrainingLock, TrainingRun
from tests.factories import StaffFactory
from tests.multimachine.conftest import ROOT, Bucket
from tests.multimachine.settings import RELOAD_INTERVAL
from tests.processes import (
    database_environment,
    free_port,
    inherited_environment,
    process_stop,
    production_over_http,
    server_wait_until_up,
)
from tests.recommendations.test_training import make_small_shop

pytestmark = [pytest.mark.celery_worker, pytest.mark.django_db(transaction=True)]

BROKER = "redis://127.0.0.1:6379/12"
CACHE = "redis://127.0.0.1:6379/13"
TRENDING = "/api/recommendations/trending/?n=4"
RUNS_ADMIN = "/admin/recommendations/trainingrun/"
TRAINING_TIMEOUT = 120


@dataclass
class Process:
    """A started process, its folder (its machine's local disk) and its log."""

    name: str
    process: subprocess.Popen
    folder: Path
    log: Path
    url: str = ""

    def diagnostics(self) -> str:
        return f"{self.name} (exit code {self.process.poll()}):\n{self.log.read_text()[-4000:]}"


@dataclass
class Machines:
    web_a: Process
    web_b: Process
    worker: Process
    bucket: Bucket

    def diagnostics(self) -> str:
        return "\n\n".join(p.diagnostics() for p in (self.web_a, self.web_b, self.worker))

    def local_artifacts(self) -> list[Path]:
        """Artifact files on any process's own disk."""
        folders = (self.web_a.folder, self.web_b.folder, self.worker.folder)
        return [path for folder in folders for path in folder.rglob("*.npz")]


def _start(name: str, command: list[str], env: dict[str, str], root: Path) -> Process:
    folder = root / name
    folder.mkdir()
    log = folder / "process.log"
    own = {**env, "VAR_DIR": str(folder / "var"), "MEDIA_ROOT": str(folder / "media")}
    with log.open("wb") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=own, stdout=output, stderr=subprocess.STDOUT
        )
    return Process(name, process, folder, log)


def _gunicorn(name: str, env: dict[str, str], root: Path, *, preload: bool) -> Process:
    port = free_port()
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "1",
        "--bind", f"127.0.0.1:{port}", "--timeout", "120",
    ] + (["--preload"] if preload else [])  # fmt: skip
    started = _start(name, command, env, root)
    started.url = f"http://127.0.0.1:{port}"
    return started


def _redis_flush() -> None:
    for url in (BROKER, CACHE):
        client = redis.Redis.from_url(url)
        client.flushdb()
        client.close()


@pytest.fixture(scope="module")
def machines(
    django_db_setup: Any, django_db_blocker: Any, s3_endpoint: str, tmp_path_factory: Any
) -> Iterator[Machines]:
    """Two web servers and a Celery worker on the test database, Redis and one bucket."""
    bucket = Bucket(s3_endpoint, f"artifacts-{uuid.uuid4().hex[:12]}")
    bucket.client().create_bucket(Bucket=bucket.name)
    _redis_flush()  # no task or cached list of an earlier run
    root = tmp_path_factory.mktemp("machines")
    with django_db_blocker.unblock():
        database = database_environment()
    env = {
        # Nothing of the developer's own AWS or bucket reaches the test server.
        **{
            k: v
            for k, v in inherited_environment("VAR_DIR", "MEDIA_ROOT", "STATIC_ROOT").items()
            if not k.startswith(("ARTIFACT_S3_", "AWS_"))
        },
        **database,
        **bucket.environment(),
        "DJANGO_SETTINGS_MODULE": "tests.multimachine.settings",
        **production_over_http(),
        "CACHE_URL": CACHE,
        "CELERY_BROKER_URL": BROKER,
        "THROTTLE_ANON": "100000/min",
        "THROTTLE_USER": "100000/min",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
    }
    worker_command = [
        sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo",
        "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat",
        "--hostname", f"multimachine-{uuid.uuid4().hex[:8]}@%h",
    ]  # fmt: skip
    started: list[Process] = []
    try:
        started.append(_gunicorn("web-a", env, root, preload=True))
        started.append(_gunicorn("web-b", env, root, preload=False))
        started.append(_start("worker", worker_command, env, root))
        running = Machines(*started, bucket=bucket)
        for server in (running.web_a, running.web_b):
            server_wait_until_up(server.url, server.process, running.diagnostics)
        yield running
    finally:
        for process in started:
            process_stop(process.process)
        _redis_flush()


@pytest.fixture
def shop(machines: Machines) -> Any:
    """A small shop, committed (the processes cannot see into a test's transaction)."""
    redis.Redis.from_url(CACHE).flushdb()  # lists cached for the runs of an earlier test
    return make_small_shop()


class Staff:
    """A signed-in member of staff using the admin of one web server."""

    def __init__(self, server: Process, user: Any) -> None:
        self.server, self.user = server, user
        self.session = requests.Session()
        client = Client()
        client.force_login(user)
        self.session.cookies.set(
            settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value
        )
        assert self.session.get(server.url + RUNS_ADMIN, timeout=60).status_code == 200

    def action(self, action: str, runs: Sequence[TrainingRun] = ()) -> str:
        """Run an action of the training runs page; returns the page it redirects to."""
        response = self.session.post(
            self.server.url + RUNS_ADMIN,
            data={"action": action, "index": "0", "_selected_action": [r.pk for r in runs]},
            headers={"X-CSRFToken": self.session.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=60,
        )
        assert response.status_code == 302, response.text[:2000]
        return self.session.get(self.server.url + response.headers["Location"], timeout=60).text


def served_run(server: Process) -> int | None:
    """The run whose model chose the server's trending list (None: no trained model)."""
    response = requests.get(server.url + TRENDING, timeout=60)
    assert response.status_code == 200, response.text[:2000]
    value = response.headers.get(RUN_HEADER)
    return None if value is None else int(value)


def _after_reload_interval() -> None:
    """Wait out RELOAD_INTERVAL: every process checks the active version again by then."""
    time.sleep(RELOAD_INTERVAL)


def _wait_for_training(machines: Machines) -> TrainingRun:
    """The active run once the training on the worker has finished."""
    deadline = time.monotonic() + TRAINING_TIMEOUT
    while True:
        active = TrainingRun.objects.filter(is_active=True).first()
        running = TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING).exists()
        if active is not None and not running and not TrainingLock.objects.exists():
            return active
        if machines.worker.process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"no training finished:\n{machines.diagnostics()}")
        time.sleep(0.2)


def _staff(server: Process) -> Staff:
    return Staff(server, StaffFactory(username=f"staff-{uuid.uuid4().hex[:8]}"))


def _worker_logged(machines: Machines, text: str) -> bool:
    # The worker logs a task's outcome just after its last commit: give it a moment.
    deadline = time.monotonic() + 10
    while text not in machines.worker.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.2)
    return text in machines.worker.log.read_text()


def test_a_training_queued_from_the_admin_is_served_by_every_web_process_from_the_bucket(
    machines, shop
):
    staff = _staff(machines.web_a)
    before = (served_run(machines.web_a), served_run(machines.web_b))

    page = staff.action("train_now")
    active = _wait_for_training(machines)
    _after_reload_interval()
    after = (served_run(machines.web_a), served_run(machines.web_b))

    assert "Training queued" in page
    assert before == (None, None)
    assert after == (active.pk, active.pk)
    assert active.created_by == staff.user  # queued by the admin action, trained by the worker
    runs = TrainingRun.objects.filter(batch=active.batch)
    assert {run.status for run in runs} == {TrainingRun.Status.SUCCEEDED}
    assert {run.artifact for run in runs} <= machines.bucket.object_keys()
    assert machines.local_artifacts() == []
    assert _worker_logged(machines, "Task recommendations.tasks.training_run_task[")


def test_a_promotion_and_a_rollback_through_one_web_process_are_served_by_the_other(
    machines, shop
):
    # The nightly task, sent as Celery beat sends it.
    client = Celery("multimachine-beat", broker=BROKER, backend=BROKER)
    try:
        client.send_task("recommendations.tasks.training_run_task").get(timeout=TRAINING_TIMEOUT)
    except Exception as exc:
        raise AssertionError(machines.diagnostics()) from exc
    finally:
        client.close()
    best = TrainingRun.objects.get(is_active=True)
    other = TrainingRun.objects.filter(batch=best.batch).exclude(pk=best.pk).get()
    _after_reload_interval()
    served_first = (served_run(machines.web_a), served_run(machines.web_b))

    promoted = _staff(machines.web_a).action("promote", [other])
    at_once = served_run(machines.web_a)  # the process that promoted serves it at once
    _after_reload_interval()
    served_promoted = (at_once, served_run(machines.web_b))

    rolled_back = _staff(machines.web_b).action("rollback")
    at_once = served_run(machines.web_b)
    _after_reload_interval()
    served_rolled_back = (served_run(machines.web_a), at_once)

    assert served_first == (best.pk, best.pk)
    assert f"Run #{other.pk} ({other.algorithm}) now serves." in promoted
    assert served_promoted == (other.pk, other.pk)
    assert f"Rolled back: run #{best.pk} ({best.algorithm}) serves again." in rolled_back
    assert served_rolled_back == (best.pk, best.pk)
    assert {best.artifact, other.artifact} <= machines.bucket.object_keys()
    assert machines.local_artifacts() == []


def _shopper_at(server: Process, cookie: str) -> requests.Session:
    """A signed-in shopper's browser talking to ``server`` (its session: ``cookie``)."""
    session = requests.Session()
    session.cookies.set(settings.SESSION_COOKIE_NAME, cookie)
    assert session.get(server.url + "/cart/", timeout=60).status_code == 200  # CSRF cookie
    return session


def _listed(server: Process, shopper: requests.Session) -> list[str]:
    response = shopper.get(server.url + "/api/recommendations/me/?n=8", timeout=60)
    assert response.status_code == 200, response.text[:2000]
    return [row["item_id"] for row in response.json()["results"]]


def test_a_purchase_through_one_web_process_leaves_the_other_s_next_list(machines, shop):
    # The shop was written by this test's process, whose cache is not theirs: they read
    # the catalog again within RELOAD_INTERVAL, as after changes made without telling.
    _after_reload_interval()
    client = Client()
    client.force_login(shop.users[0])
    cookie = client.cookies[settings.SESSION_COOKIE_NAME].value
    at_a, at_b = _shopper_at(machines.web_a, cookie), _shopper_at(machines.web_b, cookie)
    first = _listed(machines.web_a, at_a)
    again = _listed(machines.web_a, at_a)  # what every list reads first, kept by web-a
    bought = first[0]

    for path in (f"/cart/add/{bought}/", "/checkout/"):
        response = at_b.post(
            machines.web_b.url + path,
            data={"quantity": 1},
            headers={"X-CSRFToken": at_b.cookies["csrftoken"]},
            allow_redirects=False,
            timeout=60,
        )
        assert response.status_code == 302, response.text[:2000]
    after = _listed(machines.web_a, at_a)  # at once: no RELOAD_INTERVAL waited

    assert first and again == first
    assert bought not in after and after
    # Each web process reads those values through its near cache: a connection with
    # tracking on (flag "t") each.
    cache_db = redis.Redis.from_url(CACHE)
    tracking = [c for c in cache_db.client_list() if "t" in c["flags"] and c["db"] == "13"]
    cache_db.close()
    assert len(tracking) >= 2, machines.diagnostics()
