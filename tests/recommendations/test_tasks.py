"""The Celery task, the training lock and the management command."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from recommendations.background import training_run_enqueue
from recommendations.models import TrainingLock, TrainingRun
from recommendations.services import (
    TrainingLocked,
    training_lock,
    training_run_start,
)
from recommendations.tasks import training_run_task
from tests.recommendations.test_training import FAST_ALGORITHMS, make_small_shop

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def small_settings(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "ALGORITHMS": FAST_ALGORITHMS}


@pytest.fixture
def shop():
    return make_small_shop()


def test_the_task_trains_and_returns_the_serving_run(shop):
    run_id = training_run_task.apply().get()

    run = TrainingRun.objects.get(pk=run_id)
    assert run.status == TrainingRun.Status.SUCCEEDED and run.is_active
    assert TrainingRun.objects.count() == 2
    assert not TrainingLock.objects.exists()


def test_the_task_is_late_acknowledged_and_time_limited():
    assert training_run_task.name == "recommendations.tasks.training_run_task"
    assert training_run_task.acks_late is True
    assert 0 < training_run_task.soft_time_limit < training_run_task.time_limit


def test_a_second_training_is_skipped_while_one_holds_the_lock(shop):
    with training_lock():
        assert training_run_task.apply().get() is None
        with pytest.raises(TrainingLocked, match="Another training is running"):
            training_run_start()
    assert not TrainingRun.objects.exists()
    assert training_run_task.apply().get() is not None


def test_the_lock_is_released_when_training_fails(shop, monkeypatch):
    from recommendations import services

    def explode(runs, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "training_batch_run", explode)
    with pytest.raises(RuntimeError, match="disk full"):
        training_run_start()
    assert not TrainingLock.objects.exists()


def test_an_expired_lock_of_a_killed_worker_is_taken_over(shop):
    TrainingLock.objects.create(
        name="training", token="dead-worker", expires_at=timezone.now() - dt.timedelta(seconds=1)
    )
    run = training_run_start()
    assert run.status == TrainingRun.Status.SUCCEEDED


def test_a_live_lock_of_another_worker_is_respected(shop):
    TrainingLock.objects.create(
        name="training", token="busy-worker", expires_at=timezone.now() + dt.timedelta(hours=1)
    )
    assert training_run_task.apply().get() is None
    assert TrainingLock.objects.get().token == "busy-worker"


def test_enqueue_waits_for_the_commit(shop, staff, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        training_run_enqueue(user=staff)
    assert not TrainingRun.objects.exists()
    assert len(callbacks) == 1

    callbacks[0]()

    run = TrainingRun.objects.get(is_active=True)
    assert run.created_by == staff


def test_the_command_trains_shows_progress_and_promotes(shop, capsys):
    call_command("train_recommendations")

    out = capsys.readouterr().out
    assert "item_knn: evaluating on the last 30 days" in out
    assert "popularity: done in" in out and "ndcg@20" in out
    active = TrainingRun.objects.get(is_active=True)
    assert f"Serving run #{active.pk} (item_knn)." in out


def test_the_command_trains_only_the_given_algorithms_without_promoting(shop, capsys):
    call_command("train_recommendations", "--algorithms", "popularity", "--no-promote")

    assert list(TrainingRun.objects.values_list("algorithm", "status")) == [
        ("popularity", "succeeded")
    ]
    assert not TrainingRun.objects.filter(is_active=True).exists()
    assert "No version is serving." in capsys.readouterr().out


def test_the_command_fails_cleanly_without_data():
    with pytest.raises(CommandError, match="No events to train on"):
        call_command("train_recommendations")


def test_the_command_rejects_an_unknown_algorithm(shop):
    with pytest.raises(CommandError, match="Unknown algorithm"):
        call_command("train_recommendations", "--algorithms", "popularity,wizardry")


def test_the_command_refuses_while_locked(shop):
    with training_lock(), pytest.raises(CommandError, match="Another training is running"):
        call_command("train_recommendations")


def test_the_soft_time_limit_fails_the_batch_and_keeps_the_previous_version(shop, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    from recommendations.engine.popularity import PopularityRecommender

    previous = training_run_start(algorithms=["item_knn"])
    calls = []
    real_fit = PopularityRecommender._fit

    def slow(self, *args, **kwargs):
        calls.append(1)
        # The similar, trending and popularity models of the batch fit first; then time is up.
        if len(calls) > 2:
            raise SoftTimeLimitExceeded()
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(PopularityRecommender, "_fit", slow)
    with pytest.raises(SoftTimeLimitExceeded):
        training_run_task.apply(kwargs={"algorithms": ["popularity", "item_knn"]}).get()

    batch = TrainingRun.objects.exclude(pk=previous.pk)
    assert {run.status for run in batch} == {TrainingRun.Status.FAILED}
    assert all("SoftTimeLimitExceeded" in run.error for run in batch)
    assert TrainingRun.objects.get(is_active=True) == previous
    assert not TrainingLock.objects.exists()
