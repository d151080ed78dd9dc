"""Old artifacts are deleted after each training; serving and rollback versions stay."""

from __future__ import annotations

import os
import time

import pytest
from django.core.exceptions import ValidationError

from recommendations import services
from recommendations.conf import app_settings
from recommendations.models import Experiment, TrainingRun
from recommendations.services import (
    training_artifacts_prune,
    training_run_promote,
    training_run_rollback,
    training_run_start,
)
from tests.recommendations.test_training import FAST_ALGORITHMS, make_small_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": FAST_ALGORITHMS,
        "ARTIFACT_KEEP": 1,
    }
    make_small_shop()
    return app_settings.ARTIFACT_ROOT


def _with_artifact() -> set[int]:
    return set(TrainingRun.objects.exclude(artifact="").values_list("pk", flat=True))


def _files(media) -> set[str]:
    folder = media / "recommendations"
    return {f"recommendations/{p.name}" for p in folder.iterdir()} if folder.exists() else set()


def test_each_training_keeps_the_serving_run_and_the_newest_others(media):
    for _ in range(3):
        training_run_start()

    runs = list(TrainingRun.objects.order_by("-created_at", "-pk"))
    assert len(runs) == 6 and all(run.status == "succeeded" for run in runs)
    active = TrainingRun.objects.get(is_active=True)
    latest = {run.pk for run in runs if run.batch == runs[0].batch}
    newest_older = next(run for run in runs if not run.is_active and run.pk not in latest)
    assert _with_artifact() == {active.pk, newest_older.pk} | latest
    # The files on disk are exactly the kept ones; pruned rows keep their metrics.
    assert _files(media) == set(
        TrainingRun.objects.exclude(artifact="").values_list("artifact", flat=True)
    )
    assert all(run.metrics.get("ndcg") is not None for run in runs)


def test_a_run_in_a_live_experiment_keeps_its_artifact(media, settings):
    challenger = training_run_start(algorithms=["popularity"], promote=False)
    Experiment.objects.create(name="pop vs knn", challenger_run=challenger, share=0.5)
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "ARTIFACT_KEEP": 0}

    training_run_start()
    training_run_start(algorithms=["item_knn"])

    active = TrainingRun.objects.get(is_active=True)
    latest = TrainingRun.objects.latest()
    assert _with_artifact() == {challenger.pk, active.pk, latest.pk}


def test_the_latest_training_keeps_its_artifacts_even_if_not_promoted(media, settings):
    training_run_start()
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "ARTIFACT_KEEP": 0}
    fresh = training_run_start(algorithms=["popularity"], promote=False)

    assert fresh.pk in _with_artifact()
    training_run_promote(run=fresh)
    assert TrainingRun.objects.get(is_active=True) == fresh


def test_a_pruned_run_cannot_be_promoted_and_rollback_skips_it(media, settings):
    first = training_run_start(algorithms=["item_knn"])
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "ARTIFACT_KEEP": 0}
    second = training_run_start(algorithms=["item_knn"], promote=False)
    training_run_promote(run=second)
    training_run_start(algorithms=["popularity"], promote=False)
    first.refresh_from_db()

    assert first.artifact == ""
    with pytest.raises(ValidationError, match="no artifact any more"):
        training_run_promote(run=first)
    with pytest.raises(ValidationError, match="no earlier version"):
        training_run_rollback()
    assert TrainingRun.objects.get(is_active=True) == second


def test_keep_none_keeps_every_artifact(media, settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "ARTIFACT_KEEP": None}
    training_run_start()
    training_run_start()

    assert len(_with_artifact()) == 4
    assert training_artifacts_prune() == []


def test_old_orphan_files_go_and_fresh_or_foreign_files_stay(media, settings):
    training_run_start()
    folder = media / "recommendations"
    old, fresh, foreign = (folder / name for name in ("run-9-old.npz", "run-9-new.npz", "x.txt"))
    for path in (old, fresh, foreign):
        path.write_bytes(b"not an artifact")
    hour_ago = time.time() - settings.RECOMMENDATIONS.get("TRAINING_LOCK_TIMEOUT", 3600) - 60
    os.utime(old, (hour_ago, hour_ago))
    os.utime(foreign, (hour_ago, hour_ago))

    deleted = training_artifacts_prune()

    assert deleted == ["recommendations/run-9-old.npz"]
    assert not old.exists() and fresh.exists() and foreign.exists()


def test_a_bad_keep_is_refused(media):
    with pytest.raises(ValueError, match="non-negative integer"):
        training_artifacts_prune(keep=-1)


def test_a_storage_failure_while_pruning_does_not_fail_the_training(
    media, settings, monkeypatch, caplog
):
    training_run_start()
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "ARTIFACT_KEEP": 0}

    def broken(name):
        raise OSError("disk went away")

    monkeypatch.setattr(services, "artifact_delete", broken)
    run = training_run_start()

    assert run.status == TrainingRun.Status.SUCCEEDED
    assert TrainingRun.objects.get(is_active=True).artifact
    assert "Could not delete old recommendation artifacts" in caplog.text
