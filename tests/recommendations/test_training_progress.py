"""Training without a broker: "Train now" starts a process of its own and returns; the
lock row tells staff how far the training is, through a staff-only progress view."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from recommendations import background, services
from recommendations.models import TrainingLock, TrainingRun
from recommendations.services import LOCK_NAME, training_run_start
from tests.factories import UserFactory
from tests.processes import database_environment
from tests.recommendations.test_training import FAST_ALGORITHMS, make_small_shop

CHANGELIST = reverse("admin:recommendations_trainingrun_changelist")
PROGRESS = reverse("admin:recommendations_training_progress")


@pytest.fixture(autouse=True)
def small_settings(settings, isolated_serving):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "ALGORITHMS": FAST_ALGORITHMS}


def _train_now(client):
    return client.post(
        CHANGELIST, {"action": "train_now", "index": 0, ACTION_CHECKBOX_NAME: []}, follow=True
    )


@pytest.mark.django_db
def test_the_lock_row_follows_the_training_stage_algorithm_and_percent():
    make_small_shop()
    seen = []

    def watch(message):
        lock = TrainingLock.objects.get(name=LOCK_NAME)
        seen.append((message, lock.stage, lock.algorithm, lock.percent, lock.batch))

    run = training_run_start(progress=watch)

    assert [stage for message, stage, *_ in seen] == [message for message, *_ in seen]
    percents = [percent for *_, percent, _batch in seen]
    assert percents[0] == 0 and percents == sorted(percents) and percents[-1] == 95
    by_message = {message: algorithm for message, _, algorithm, _, _ in seen}
    assert by_message["item_knn: fitting on all events…"] == "item_knn"
    assert by_message["Reading events…"] == ""
    # The selection takes the way to 25 %; evaluating item_knn (the second of two
    # algorithms) starts half-way through the 70 % left to the algorithms.
    assert any(message.startswith("selection:") for message, *_ in seen)
    assert (
        dict((m, p) for m, _, _, p, _ in seen)["item_knn: evaluating on the last 30 days…"] == 60
    )
    assert {batch for *_, batch in seen} == {run.batch}
    assert not TrainingLock.objects.exists()


@pytest.mark.django_db
def test_the_progress_view_reports_the_running_training_to_staff_only(staff_client):
    now = timezone.now()
    TrainingLock.objects.create(
        name=LOCK_NAME,
        token="t",
        expires_at=now + dt.timedelta(hours=1),
        holder="host pid 1",
        stage="ease: fitting on all events…",
        algorithm="ease",
        percent=62,
        batch="b1",
        progress_at=now,
    )

    state = staff_client.get(PROGRESS).json()

    assert state["running"] is True and state["stale"] is False
    assert (state["stage"], state["algorithm"], state["percent"]) == (
        "ease: fitting on all events…",
        "ease",
        62,
    )
    client = Client()
    assert client.get(PROGRESS).status_code == 302  # anonymous: to the sign-in
    client.force_login(UserFactory())
    assert client.get(PROGRESS).status_code == 302  # not staff
    TrainingLock.objects.all().delete()
    assert staff_client.get(PROGRESS).json() == {
        "running": False,
        "stale": False,
        "latest_run": None,
    }


@pytest.mark.django_db
def test_the_changelist_shows_the_running_training(staff_client):
    TrainingLock.objects.create(
        name=LOCK_NAME,
        token="t",
        expires_at=timezone.now() + dt.timedelta(hours=1),
        stage="item_knn: evaluating on the last 30 days…",
        algorithm="item_knn",
        percent=50,
    )

    html = staff_client.get(CHANGELIST).content.decode()

    assert 'id="training-progress"' in html and 'data-running="1"' in html
    assert "item_knn: evaluating on the last 30 days…" in html
    assert 'value="50"' in html and "training-progress.js" in html


@pytest.mark.django_db
def test_train_now_while_a_training_runs_says_so_and_starts_nothing(
    staff_client, settings, monkeypatch
):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "TRAINING_RUNNER": "process"}
    started = []
    monkeypatch.setattr(background, "training_process_start", lambda **kw: started.append(kw))
    TrainingLock.objects.create(
        name=LOCK_NAME, token="busy", expires_at=timezone.now() + dt.timedelta(hours=1)
    )

    html = _train_now(staff_client).content.decode()

    assert "Another training is running" in html
    assert started == [] and not TrainingRun.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_train_now_without_a_broker_trains_in_a_process_of_its_own(
    staff_client, staff, settings, monkeypatch, tmp_path
):
    make_small_shop()
    # The process reads the test database and two fast algorithms.
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "TRAINING_RUNNER": "process"}
    environment = {
        **database_environment(),
        "DJANGO_SETTINGS_MODULE": "tests.recommendations.faults_settings",
        "FAULTS_ARTIFACT_ROOT": str(tmp_path / "var"),
    }
    for key, value in environment.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)

    def not_here(*args, **kwargs):
        raise AssertionError("the request trained in its own process")

    # Training in this (the web) process would fail; the other process is untouched.
    monkeypatch.setattr(services, "training_batch_run", not_here)
    processes = []
    start = background.training_process_start
    monkeypatch.setattr(
        background, "training_process_start", lambda **kw: processes.append(start(**kw))
    )

    html = _train_now(staff_client).content.decode()

    assert "Training started in the background" in html
    assert 'data-starting="1"' in html
    assert len(processes) == 1
    assert processes[0].wait(timeout=300) == 0
    runs = TrainingRun.objects.order_by("pk")
    assert [run.algorithm for run in runs] == ["popularity", "item_knn"]
    assert all(run.status == TrainingRun.Status.SUCCEEDED for run in runs)
    assert all(run.created_by_id == staff.pk for run in runs)
    assert runs.filter(is_active=True).exists()
    assert not TrainingLock.objects.exists()
    # The page shown next no longer waits for a training to start.
    assert 'data-starting="1"' not in staff_client.get(CHANGELIST).content.decode()


@pytest.mark.django_db
def test_train_command_records_the_user_and_refuses_an_unknown_one(staff, capsys):
    make_small_shop()

    call_command("train_recommendations", "--algorithms", "popularity", "--user-id", str(staff.pk))

    assert TrainingRun.objects.get().created_by == staff
    with pytest.raises(CommandError, match="--user-id: no user with id 999999"):
        call_command("train_recommendations", "--user-id", "999999")


@pytest.mark.django_db
def test_the_percent_moves_while_the_selection_and_the_blend_run(settings):
    make_small_shop(n_users=40)
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": {
            "item_knn": {"k": 20},
            "blend": {"candidates": 5, "validation_folds": 1, "compare_components": False},
        },
    }
    seen = []

    def watch(message):
        seen.append((message, TrainingLock.objects.get(name=LOCK_NAME).percent))

    training_run_start(progress=watch)

    percents = [percent for _, percent in seen]
    assert percents == sorted(percents)
    # The selection reports its share: the percent moves before the first algorithm.
    selection = [p for m, p in seen if m.startswith("selection:")]
    assert selection and max(selection) > 5
    # Inside the blend's evaluation and its fit: each component fit moves the percent.
    evaluating = [p for m, p in seen if m.startswith("blend: evaluating") and m.endswith("%)")]
    fitting = [p for m, p in seen if m.startswith("blend: fitting") and m.endswith("%)")]
    start = dict(seen)["blend: evaluating on the last 30 days…"]
    assert len(evaluating) >= 2 and start < evaluating[0] < evaluating[-1] < fitting[-1] <= 95
    assert len(set(evaluating + fitting)) >= 3
