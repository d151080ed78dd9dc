"""Everything the app does with its artifact storage works on S3-compatible storage.

The storage is the one config.settings builds from ``ARTIFACT_S3_*`` (django-storages'
S3Storage) against moto's server: writes, reads, listing of the artifact folder,
existence, deletion and modified times, and a bucket that cannot be reached.
"""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.utils import timezone

from recommendations import privacy, serving, tombstones
from recommendations.api.views import RUN_HEADER
from recommendations.artifacts import (
    ArtifactError,
    artifact_delete,
    artifact_modified_time,
    artifact_names,
    artifact_read,
    artifact_write,
)
from recommendations.models import ForgottenUser, TrainingRun
from recommendations.services import training_artifacts_prune, training_run_start
from tests.multimachine.conftest import Bucket
from tests.processes import free_port
from tests.recommendations.test_training import FAST_ALGORITHMS, make_small_shop

pytestmark = pytest.mark.django_db

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


@pytest.fixture
def on_s3(settings, bucket, tmp_path):
    """Artifacts in ``bucket`` as the demo's settings configure it; MEDIA_ROOT stays empty."""
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.STORAGES = {**settings.STORAGES, "recommendations": bucket.storage()}
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": FAST_ALGORITHMS,
        "ARTIFACT_STORAGE": "recommendations",
        "ARTIFACT_KEEP": 1,
        "RELOAD_INTERVAL": 60,
    }
    serving.reset()
    yield bucket
    serving.reset()


@pytest.fixture
def shop(on_s3):
    return make_small_shop()


class Outage:
    """Switches the artifact storage to a port nothing listens on, and back."""

    def __init__(self, settings, bucket: Bucket) -> None:
        self.settings, self.working = settings, settings.STORAGES
        down = bucket.storage(endpoint=f"http://127.0.0.1:{free_port()}")
        config = down["OPTIONS"]["client_config"]
        # One attempt: the retries of a real deployment would only slow the test down.
        down["OPTIONS"]["client_config"] = config.merge(type(config)(retries={"max_attempts": 1}))
        self.broken = {**self.working, "recommendations": down}

    def start(self) -> None:
        self.settings.STORAGES = self.broken

    def end(self) -> None:
        self.settings.STORAGES = self.working


@pytest.fixture
def outage(settings, on_s3):
    return Outage(settings, on_s3)


def _named() -> set[str]:
    return set(TrainingRun.objects.exclude(artifact="").values_list("artifact", flat=True))


def _local_files(settings) -> list:
    media = settings.MEDIA_ROOT
    return [path for path in media.rglob("*") if path.is_file()] if media.exists() else []


def test_each_training_leaves_exactly_the_kept_artifacts_in_the_bucket(shop, on_s3, settings):
    for _ in range(3):
        training_run_start()

    active = TrainingRun.objects.get(is_active=True)
    assert TrainingRun.objects.filter(status="succeeded").count() == 6
    # Pruning listed the folder, deleted the rest: the bucket holds what the runs name.
    assert on_s3.object_keys() == _named() == set(artifact_names())
    assert active.artifact in on_s3.object_keys() and len(_named()) < 6
    assert _local_files(settings) == []


def test_the_active_version_is_loaded_from_the_bucket_and_the_api_names_it(shop, client):
    run = training_run_start()
    assert run.is_active, run.error

    model = serving.active_model()
    response = client.get("/api/recommendations/trending/?n=4")

    assert model is not None and model.run_id == run.pk
    assert model.item_pks.size == artifact_read(run.artifact).item_pks.size == 12
    assert response.status_code == 200 and response.json()["results"]
    assert response[RUN_HEADER] == str(run.pk)


def test_artifacts_are_private_objects(shop, on_s3):
    run = training_run_start()

    grants = on_s3.client().get_object_acl(Bucket=on_s3.name, Key=run.artifact)["Grants"]

    assert grants, "the object has no ACL at all"
    groups = {grant["Grantee"].get("URI") for grant in grants}
    assert not groups & {ALL_USERS, AUTHENTICATED_USERS}
    assert {grant["Grantee"]["Type"] for grant in grants} == {"CanonicalUser"}


def test_an_orphan_in_the_bucket_goes_once_older_than_the_lock_timeout(shop, on_s3, settings):
    run = training_run_start()
    loaded = artifact_read(run.artifact)
    orphan = artifact_write(run_id=run.pk + 1000, **vars(loaded))
    # Not ours, or not in the artifact folder itself ("folders" are key prefixes on S3).
    foreign = {
        "recommendations/notes.txt",
        "recommendations/archive/run-1-0123abcd.npz",
        "elsewhere/run-2-0123abcd.npz",
    }
    for key in foreign:
        on_s3.client().put_object(Bucket=on_s3.name, Key=key, Body=b"not an artifact")

    assert set(artifact_names()) == _named() | {orphan}
    modified = artifact_modified_time(orphan)
    assert modified is not None
    assert abs(modified - timezone.now()) < dt.timedelta(minutes=5)
    assert training_artifacts_prune() == []  # written just now: maybe a training's

    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "TRAINING_LOCK_TIMEOUT": 0}
    assert training_artifacts_prune() == [orphan]

    assert on_s3.object_keys() == _named() | foreign


def test_an_artifact_deleted_meanwhile_has_no_modified_time_and_reads_as_missing(shop):
    run = training_run_start()
    artifact_delete(run.artifact)
    artifact_delete(run.artifact)  # deleting what is gone is no error

    assert artifact_modified_time(run.artifact) is None
    with pytest.raises(ArtifactError, match="Cannot read artifact"):
        artifact_read(run.artifact)


def test_a_corrupt_object_reads_as_an_artifact_error(shop, on_s3):
    run = training_run_start()
    on_s3.client().upload_fileobj(io.BytesIO(b"PK\x03\x04 truncated"), on_s3.name, run.artifact)

    with pytest.raises(ArtifactError, match="is corrupt"):
        artifact_read(run.artifact)


def test_an_unreachable_bucket_fails_as_a_storage_that_is_down(shop, outage):
    run = training_run_start()
    loaded = artifact_read(run.artifact)
    outage.start()

    with pytest.raises(OSError, match="artifact storage failed"):
        artifact_write(run_id=run.pk, **vars(loaded))
    with pytest.raises(OSError, match="artifact storage failed"):
        artifact_names()
    with pytest.raises(OSError, match="artifact storage failed"):
        artifact_delete(run.artifact)
    with pytest.raises(ArtifactError, match="Cannot read artifact"):
        artifact_read(run.artifact)
    outage.end()
    assert run.artifact in artifact_names()


def test_a_web_process_keeps_serving_its_version_while_the_bucket_is_unreachable(shop, outage):
    first = training_run_start(algorithms=["popularity"])
    second = training_run_start(algorithms=["item_knn"], promote=False)
    assert serving.active_model().run_id == first.pk
    outage.start()

    # Another process promotes the second run; this one cannot load it yet.
    TrainingRun.objects.filter(pk=first.pk).update(is_active=False)
    TrainingRun.objects.filter(pk=second.pk).update(is_active=True)
    serving.expire()
    during = serving.active_model()
    outage.end()
    serving.expire()
    after = serving.active_model()

    assert during.run_id == first.pk
    assert after.run_id == second.pk


def test_deleting_an_account_while_the_bucket_is_unreachable_stands_and_is_rewritten_later(
    shop, outage, django_capture_on_commit_callbacks
):
    run = training_run_start(algorithms=["item_knn"])
    gone = shop.users[0]
    assert gone.pk in artifact_read(run.artifact).user_pks.tolist()
    outage.start()

    with django_capture_on_commit_callbacks(execute=True):
        assert privacy.user_forget(user_pk=gone.pk) == []

    tombstone = ForgottenUser.objects.get(user_pk=str(gone.pk))
    assert tombstone.artifacts_pending
    outage.end()
    rewritten = tombstones.forgotten_artifacts_rewrite()

    assert [r.pk for r in rewritten] == [run.pk]
    run.refresh_from_db()
    assert gone.pk not in artifact_read(run.artifact).user_pks.tolist()
    tombstone.refresh_from_db()
    assert not tombstone.artifacts_pending


def test_a_training_while_the_bucket_is_unreachable_fails_and_the_active_run_stays(shop, outage):
    active = training_run_start(algorithms=["popularity"])
    outage.start()

    failed = training_run_start()

    outage.end()
    assert failed.status == TrainingRun.Status.FAILED
    batch = TrainingRun.objects.filter(batch=failed.batch)
    assert {run.status for run in batch} == {TrainingRun.Status.FAILED}
    assert all("artifact storage failed" in run.error for run in batch)
    assert TrainingRun.objects.get(is_active=True) == active
