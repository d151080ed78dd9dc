"""Faults end cleanly: dead trainings lose their lock, every failure is recorded and
reported, nothing serving is deleted, and outages answer 503 or render nothing."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.db import OperationalError, connection
from django.template import Context, Template
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from recommendations import serving, training
from recommendations.artifacts import artifact_names, artifact_storage
from recommendations.liveness import process_identity
from recommendations.models import Experiment, TrainingLock, TrainingRun
from recommendations.services import (
    STALE_ERROR,
    TrainingLocked,
    training_artifacts_prune,
    training_lock,
    training_lock_release,
    training_run_start,
)
from recommendations.tasks import training_run_task
from recommendations.training import TrainingInterrupted
from tests.factories import StaffFactory, UserFactory
from tests.recommendations import processes
from tests.recommendations.test_training import FAST_ALGORITHMS, make_small_shop

REDIS_DOWN = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://127.0.0.1:1/0",
    }
}


@pytest.fixture
def small_settings(settings, tmp_path):
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": FAST_ALGORITHMS,
        "ARTIFACT_ROOT": tmp_path / "var",
    }
    return settings


@pytest.fixture
def shop(db, small_settings):
    return make_small_shop()


@pytest.fixture
def committed_shop(transactional_db, small_settings):
    """The shop outside a test transaction: a refused query must not poison the rest."""
    return make_small_shop()


@pytest.fixture
def no_retry_delays(monkeypatch):
    monkeypatch.setattr(training, "FAIL_RETRY_DELAYS", (0.0, 0.0, 0.0))


def _dead_process_identity() -> str:
    """The identity of a process of this machine that was killed with SIGKILL."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    identity = process_identity(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return identity


def _lock(**fields) -> TrainingLock:
    now = timezone.now()
    return TrainingLock.objects.create(
        **{
            "name": "training",
            "token": "other",
            "holder": "worker-7 pid 4242",
            "heartbeat_at": now,
            "expires_at": now + dt.timedelta(hours=1),
            **fields,
        }
    )


class _FailUpdates:
    """Makes the database refuse some UPDATEs of training runs, as a locked SQLite does.

    ``skip`` updates pass first, then ``fail`` are refused.
    """

    def __init__(self, *, skip: int, fail: int) -> None:
        self.skip, self.fail = skip, fail

    def __call__(self, execute, sql, params, many, context):
        if not sql.startswith('UPDATE "recommendations_trainingrun"'):
            return execute(sql, params, many, context)
        if self.skip:
            self.skip -= 1
            return execute(sql, params, many, context)
        if self.fail:
            self.fail -= 1
            raise OperationalError("database is locked")
        return execute(sql, params, many, context)


def _unnamed_artifacts() -> set[str]:
    named = set(TrainingRun.objects.exclude(artifact="").values_list("artifact", flat=True))
    return set(artifact_names()) - named


# -- the lock of a dead training ----------------------------------------------------------


def test_a_lock_without_a_recent_heartbeat_is_taken_over_and_its_runs_failed(shop):
    left = TrainingRun.objects.create(algorithm="popularity", status=TrainingRun.Status.RUNNING)
    _lock(heartbeat_at=timezone.now() - dt.timedelta(seconds=121))

    run = training_run_start()

    assert run.status == TrainingRun.Status.SUCCEEDED
    left.refresh_from_db()
    assert left.status == TrainingRun.Status.FAILED and left.error == STALE_ERROR
    assert not TrainingLock.objects.exists()


def test_a_lock_with_a_recent_heartbeat_is_respected_and_named(shop):
    _lock(heartbeat_at=timezone.now() - dt.timedelta(seconds=100))

    with pytest.raises(TrainingLocked, match="lock held by worker-7 pid 4242 since"):
        training_run_start()
    with pytest.raises(CommandError, match="Another training is running"):
        call_command("train_recommendations")
    assert TrainingLock.objects.get().token == "other"


def test_the_lock_of_a_process_gone_from_this_machine_is_taken_over_at_once(db):
    _lock(process=_dead_process_identity())

    with training_lock() as held:
        assert TrainingLock.objects.get().token == held.token


def test_the_lock_of_a_live_process_of_this_machine_is_respected(db):
    _lock(process=process_identity(os.getppid()))

    with pytest.raises(TrainingLocked), training_lock():
        pass


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_refreshes_the_lock_and_notices_when_it_is_lost(settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "TRAINING_LOCK_STALE_AFTER": 0.2}
    with training_lock() as held:
        first = TrainingLock.objects.get().heartbeat_at
        deadline = time.monotonic() + 30
        while TrainingLock.objects.get().heartbeat_at == first and time.monotonic() < deadline:
            time.sleep(0.05)
        assert TrainingLock.objects.get().heartbeat_at > first

        TrainingLock.objects.all().delete()  # released by staff, or taken over as stale
        assert held._heartbeat.lost.wait(timeout=30)
        with pytest.raises(TrainingInterrupted, match="released by staff or taken over"):
            held.check()


def test_staff_releasing_the_lock_stops_the_training_fails_its_runs_and_keeps_serving(shop, staff):
    previous = training_run_start(algorithms=["popularity"])

    def release_midway(message: str) -> None:
        if message.startswith("item_knn: fitting on all events"):
            training_lock_release(user=staff)

    with pytest.raises(TrainingInterrupted, match="failed by another process"):
        training_run_start(progress=release_midway)

    batch = {run.algorithm: run for run in TrainingRun.objects.exclude(pk=previous.pk)}
    assert batch["popularity"].status == TrainingRun.Status.SUCCEEDED  # done before
    assert batch["item_knn"].status == TrainingRun.Status.FAILED
    assert batch["item_knn"].error.startswith("Stopped: staff released the training lock")
    assert TrainingRun.objects.get(is_active=True) == previous
    assert artifact_storage().exists(previous.artifact)
    assert not _unnamed_artifacts()
    assert not TrainingLock.objects.exists()


def test_the_admin_shows_the_lock_and_staff_release_it_after_confirming(staff_client):
    _lock(heartbeat_at=timezone.now() - dt.timedelta(seconds=300))
    left = TrainingRun.objects.create(algorithm="popularity", status=TrainingRun.Status.RUNNING)
    release = reverse("admin:recommendations_release_lock")

    page = staff_client.get(reverse("admin:recommendations_trainingrun_changelist"))
    assert b"Held by <strong>worker-7 pid 4242</strong>" in page.content
    assert b"<strong>stale</strong>" in page.content and release.encode() in page.content
    confirm = staff_client.get(release)
    assert b"Yes, release the lock" in confirm.content
    assert TrainingLock.objects.exists()

    response = staff_client.post(release)

    assert response.status_code == 302 and not TrainingLock.objects.exists()
    left.refresh_from_db()
    assert left.status == TrainingRun.Status.FAILED
    assert left.error.startswith("Stopped: staff released the training lock")


def test_staff_who_may_only_view_runs_cannot_release_the_lock(db, client):
    viewer = UserFactory(username="intern", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_trainingrun"))
    client.force_login(viewer)
    _lock()

    page = client.get(reverse("admin:recommendations_trainingrun_changelist"))
    assert b"worker-7 pid 4242" in page.content
    assert b"Release the lock" not in page.content
    assert client.post(reverse("admin:recommendations_release_lock")).status_code == 403
    assert TrainingLock.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_killed_training_command_loses_its_lock_and_the_next_one_fails_its_runs(tmp_path):
    env = processes.process_env(tmp_path, database_url=processes.shared_database(tmp_path))
    killed = processes.start_blocked_training(env, tmp_path / "holding-the-lock")
    held = processes.database_state(env)
    assert held["lock"][0]["holder"].endswith(f"pid {killed.pid}")
    assert {run["status"] for run in held["runs"]} == {"running"}

    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    result = processes.manage(env, "train_recommendations")

    assert result.returncode == 0, result.stderr
    state = processes.database_state(env)
    assert state["lock"] == []
    dead = {run["pk"] for run in held["runs"]}
    assert [run["status"] for run in state["runs"] if run["pk"] in dead] == ["failed"] * 2
    assert all(run["error"] == STALE_ERROR for run in state["runs"] if run["pk"] in dead)
    assert any(run["is_active"] for run in state["runs"] if run["pk"] not in dead)


def test_the_task_of_a_worker_that_dies_is_redelivered_not_lost():
    assert training_run_task.acks_late is True
    assert training_run_task.reject_on_worker_lost is True


# -- every failure is recorded and reported -----------------------------------------------


def test_a_refused_failure_record_is_retried_on_a_fresh_connection(
    committed_shop, no_retry_delays
):
    # Passed: marking stale runs failed, and the runs running. Refused: the save of the
    # first algorithm and the first two attempts to record its failure.
    refused = pytest.raises(CommandError, match="The database is unavailable: database is locked")
    with connection.execute_wrapper(_FailUpdates(skip=2, fail=3)), refused:
        call_command("train_recommendations")

    runs = TrainingRun.objects.all()
    assert len(runs) == 2
    assert {run.status for run in runs} == {TrainingRun.Status.FAILED}
    assert all(run.error == "OperationalError: database is locked" for run in runs)
    assert not artifact_names()  # the unsaved run's file is gone with its failure recorded
    assert not TrainingLock.objects.exists()


def test_runs_the_database_never_let_fail_are_failed_by_the_next_training(
    committed_shop, no_retry_delays
):
    previous = training_run_start(algorithms=["popularity"])
    refused = pytest.raises(OperationalError)
    with connection.execute_wrapper(_FailUpdates(skip=2, fail=100)), refused:
        training_run_start()
    left = TrainingRun.objects.exclude(pk=previous.pk)
    assert {run.status for run in left} == {TrainingRun.Status.RUNNING}
    assert artifact_storage().exists(previous.artifact)

    training_run_start()

    for run in left:
        run.refresh_from_db()
        assert run.status == TrainingRun.Status.FAILED and run.error == STALE_ERROR


def test_a_save_that_reached_the_database_before_the_error_keeps_its_artifact(
    committed_shop, no_retry_delays, monkeypatch
):
    real_save = training._succeeded_save

    def saved_then_cut_off(run: TrainingRun) -> None:
        real_save(run)  # committed; the connection reports an error afterwards
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(training, "_succeeded_save", saved_then_cut_off)
    with pytest.raises(OperationalError):
        training_run_start()

    saved = TrainingRun.objects.get(status=TrainingRun.Status.SUCCEEDED)
    assert artifact_storage().exists(saved.artifact)
    assert TrainingRun.objects.exclude(pk=saved.pk).get().status == TrainingRun.Status.FAILED


def test_the_command_exits_non_zero_when_any_algorithm_fails(shop, small_settings, capsys):
    small_settings.RECOMMENDATIONS = {
        **small_settings.RECOMMENDATIONS,
        "ALGORITHMS": {"popularity": {}, "item_knn": {"no_such_parameter": 1}},
    }

    with pytest.raises(CommandError, match="Training failed for item_knn: TypeError"):
        call_command("train_recommendations")

    statuses = dict(TrainingRun.objects.values_list("algorithm", "status"))
    assert statuses == {"popularity": "succeeded", "item_knn": "failed"}
    assert "Serving run #" in capsys.readouterr().out


def test_an_artifact_storage_that_cannot_write_fails_every_run(shop, small_settings):
    blocked = Path(small_settings.RECOMMENDATIONS["ARTIFACT_ROOT"])
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the artifact folder should be")

    with pytest.raises(CommandError, match="Training failed for popularity, item_knn"):
        call_command("train_recommendations")

    runs = TrainingRun.objects.all()
    assert {run.status for run in runs} == {TrainingRun.Status.FAILED}
    assert all(run.error for run in runs) and not TrainingLock.objects.exists()


def test_pruning_never_deletes_a_file_a_serving_run_names(shop):
    active = training_run_start(algorithms=["popularity"])
    challenger = training_run_start(algorithms=["item_knn"], promote=False)
    Experiment.objects.create(name="ab", challenger_run=challenger)
    # An older run naming the same files, as after restoring a backup.
    TrainingRun.objects.create(
        algorithm="popularity",
        status=TrainingRun.Status.SUCCEEDED,
        artifact=active.artifact,
        created_at=timezone.now() - dt.timedelta(days=9),
    )
    TrainingRun.objects.create(
        algorithm="item_knn",
        status=TrainingRun.Status.SUCCEEDED,
        artifact=challenger.artifact,
        created_at=timezone.now() - dt.timedelta(days=9),
    )

    training_artifacts_prune(keep=0)

    assert artifact_storage().exists(active.artifact)
    assert artifact_storage().exists(challenger.artifact)


# -- serving retries a failed load --------------------------------------------------------


def test_a_worker_loads_a_repaired_artifact_at_the_next_check(shop, small_settings):
    small_settings.RECOMMENDATIONS = {**small_settings.RECOMMENDATIONS, "RELOAD_INTERVAL": 0.001}
    run = training_run_start(algorithms=["popularity"])
    path = Path(artifact_storage().path(run.artifact))
    good = path.read_bytes()
    path.write_bytes(b"not an artifact")
    serving.reset()
    assert serving.active_model() is None
    assert serving.active_model() is None

    path.write_bytes(good)
    time.sleep(0.002)

    assert serving.active_model().run_id == run.pk
    serving.reset()


def test_an_experiment_arm_loads_a_repaired_artifact_after_the_reload_interval(
    shop, small_settings
):
    small_settings.RECOMMENDATIONS = {**small_settings.RECOMMENDATIONS, "RELOAD_INTERVAL": 0.001}
    training_run_start(algorithms=["popularity"])
    arm = training_run_start(algorithms=["item_knn"], promote=False)
    path = Path(artifact_storage().path(arm.artifact))
    good = path.read_bytes()
    path.write_bytes(b"not an artifact")
    assert serving.run_model(arm) is None

    path.write_bytes(good)
    time.sleep(0.002)

    assert serving.run_model(arm).run_id == arm.pk
    serving.reset()


# -- outages of the database and the cache ------------------------------------------------


def _host_handler_that_hides_everything(exc, context):
    return None


def test_the_api_answers_503_with_a_detail_when_the_cache_is_down(db, client, settings):
    settings.CACHES = REDIS_DOWN
    # The host's own handler must not change how the app's views report an outage.
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "EXCEPTION_HANDLER": f"{__name__}._host_handler_that_hides_everything",
    }

    response = client.get(reverse("recommendations:trending"))

    assert response.status_code == 503
    assert response.json() == {
        "detail": "Recommendations are unavailable: the cache cannot be reached."
    }
    assert response["Retry-After"] == "30"


@pytest.mark.parametrize(
    "database_url",
    ["postgres://postgres@127.0.0.1:1/nowhere", "sqlite:////nonexistent/folder/db.sqlite3"],
    ids=["postgresql", "sqlite"],
)
def test_the_api_answers_503_and_the_command_says_so_when_the_database_is_down(
    tmp_path, database_url
):
    env = processes.process_env(tmp_path, database_url=database_url)
    script = (
        "import django, json; django.setup()\n"
        "from django.test import Client\n"
        "response = Client().get('/api/recommendations/trending/')\n"
        "print(json.dumps([response.status_code, response.json()]))"
    )
    api = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=processes.ROOT, capture_output=True, text=True
    )
    command = processes.manage(env, "train_recommendations")

    assert api.stdout.strip().splitlines()[-1] == (
        '[503, {"detail": "Recommendations are unavailable: the database cannot be reached."}]'
    )
    assert command.returncode == 1
    assert "CommandError: The database is unavailable:" in command.stderr
    assert "Traceback" not in command.stderr


def test_a_block_renders_nothing_and_logs_when_the_cache_is_down(db, settings, caplog):
    request = RequestFactory().get("/")
    request.user = StaffFactory()
    request.session = {}
    settings.CACHES = REDIS_DOWN

    with caplog.at_level(logging.ERROR, logger="recommendations.templatetags"):
        html = Template("{% load recommendations_tags %}[{% recommended_for_you %}]").render(
            Context({"request": request})
        )

    assert "".join(html.split()) == "[]"
    assert "Recommendation block 'for_you' left out" in caplog.text
