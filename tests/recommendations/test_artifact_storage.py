"""Trained artifacts go to a private storage, never to the public uploads under MEDIA_ROOT."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.storage import FileSystemStorage, InvalidStorageError

from recommendations.artifacts import artifact_storage
from recommendations.conf import app_settings
from recommendations.services import training_run_start
from tests.recommendations.test_training import FAST_ALGORITHMS, make_small_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "ALGORITHMS": FAST_ALGORITHMS}
    return settings.MEDIA_ROOT


def test_without_a_storages_alias_artifacts_are_files_in_the_private_folder(media):
    make_small_shop()

    run = training_run_start(promote=True)

    assert run.is_active, run.error
    assert run.artifact.startswith("recommendations/run-")
    assert (app_settings.ARTIFACT_ROOT / run.artifact).is_file()
    assert not media.exists() or not list(media.rglob("*.npz"))


def test_a_storages_alias_named_recommendations_takes_the_artifacts(media, settings, tmp_path):
    settings.STORAGES = {
        **settings.STORAGES,
        "recommendations": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": tmp_path / "bucket"},
        },
    }
    make_small_shop()

    run = training_run_start(promote=True)

    assert (tmp_path / "bucket" / run.artifact).is_file()
    assert not (app_settings.ARTIFACT_ROOT / run.artifact).exists()


def test_the_default_private_folder_is_var_under_base_dir(settings, tmp_path):
    settings.BASE_DIR = tmp_path / "project"
    settings.RECOMMENDATIONS = {
        key: value for key, value in settings.RECOMMENDATIONS.items() if key != "ARTIFACT_ROOT"
    }

    storage = artifact_storage()

    assert isinstance(storage, FileSystemStorage)
    assert storage.location == str(tmp_path / "project" / "var")


def test_without_base_dir_or_artifact_root_the_storage_is_refused(settings):
    del settings.BASE_DIR
    settings.RECOMMENDATIONS = {
        key: value for key, value in settings.RECOMMENDATIONS.items() if key != "ARTIFACT_ROOT"
    }

    with pytest.raises(ImproperlyConfigured, match="ARTIFACT_ROOT"):
        artifact_storage()


def test_another_alias_must_be_defined_in_storages(settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "ARTIFACT_STORAGE": "s3"}

    with pytest.raises(InvalidStorageError):
        artifact_storage()
