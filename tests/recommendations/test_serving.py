"""The serving loader: load once, follow promotions, survive broken artifacts."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from django.core.exceptions import ValidationError

from recommendations import serving
from recommendations.artifacts import artifact_read
from recommendations.conf import app_settings
from recommendations.models import TrainingRun
from recommendations.services import training_run_promote, training_run_start
from recommendations.serving import loading
from tests.recommendations.test_training import FAST_ALGORITHMS, make_small_shop

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_loader(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": FAST_ALGORITHMS,
        "RELOAD_INTERVAL": 0,
    }
    serving.reset()
    yield
    serving.reset()


@pytest.fixture
def shop():
    return make_small_shop()


def test_nothing_serves_before_the_first_training():
    assert serving.active_model() is None


def test_the_active_run_is_loaded_with_its_mappings(shop):
    run = training_run_start()

    model = serving.active_model()

    assert model.run_id == run.pk
    assert model.algorithm == run.algorithm == "item_knn"
    buyer = shop.users[0]
    row = model.user_row(buyer.pk)
    assert model.user_pks[row] == buyer.pk
    assert model.user_row(str(buyer.pk)) == row
    assert model.user_row(10**9) is None
    product = shop.products[5]
    column = model.item_col(product.pk)
    assert model.item_pk(column) == product.pk
    assert model.item_col("not-a-key") is None
    items, _ = model.recommender.recommend(row, 4, exclude_seen=False)
    # A user's own group of co-bought products ranks first.
    group = {p.pk for p in shop.products[:4]}
    assert set(model.item_pks_of(items)) == group
    similar, _ = model.similar.similar_items(model.item_col(shop.products[0].pk), 3)
    assert set(model.item_pks_of(similar)) <= group
    assert model.trending.recommend(row, 3)[0].size > 0
    assert model.popularity.recommend(row, 3)[0].size > 0


def test_the_model_is_loaded_once_and_checked_at_most_every_interval(
    shop, settings, django_assert_num_queries
):
    training_run_start()
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "RELOAD_INTERVAL": 3600}
    first = serving.active_model()

    with django_assert_num_queries(0):
        assert serving.active_model() is first


def test_a_check_of_an_unchanged_version_keeps_the_loaded_model(shop, monkeypatch):
    training_run_start()
    first = serving.active_model()
    reads = []
    monkeypatch.setattr(loading, "artifact_read", lambda name: reads.append(name) or 1 / 0)
    serving.expire()  # as when RELOAD_INTERVAL passed: the active version is looked up

    assert serving.active_model() is first
    assert reads == []


def test_a_promotion_is_picked_up_without_a_restart(shop):
    first = training_run_start(algorithms=["item_knn"])
    assert serving.active_model().run_id == first.pk
    second = training_run_start(algorithms=["popularity"], promote=False)

    training_run_promote(run=second)

    assert serving.active_model().run_id == second.pk
    assert serving.active_model().algorithm == "popularity"


def test_a_corrupt_artifact_is_never_promoted(shop, settings):
    training_run_start(algorithms=["item_knn"])
    second = training_run_start(algorithms=["popularity"], promote=False)
    (app_settings.ARTIFACT_ROOT / second.artifact).write_bytes(b"garbage, not a zip")

    with pytest.raises(ValidationError, match="corrupt"):
        training_run_promote(run=second)


def test_a_corrupt_active_artifact_keeps_the_loaded_model_serving(shop, settings, caplog):
    first = training_run_start(algorithms=["item_knn"])
    loaded = serving.active_model()
    second = training_run_start(algorithms=["popularity"], promote=False)
    # The file breaks after it was checked: flip the pointer behind the service's back.
    (app_settings.ARTIFACT_ROOT / second.artifact).write_bytes(b"\x00" * 64)
    TrainingRun.objects.filter(pk=first.pk).update(is_active=False)
    TrainingRun.objects.filter(pk=second.pk).update(is_active=True)

    with caplog.at_level(logging.ERROR, logger="recommendations.serving"):
        model = serving.active_model()

    assert model is loaded
    assert f"Cannot load recommendations run {second.pk}" in caplog.text


def test_a_missing_artifact_with_nothing_loaded_serves_none(shop, settings):
    run = training_run_start(algorithms=["popularity"])
    (app_settings.ARTIFACT_ROOT / run.artifact).unlink()

    assert serving.active_model() is None


def test_an_artifact_round_trips_without_pickle(shop):
    run = training_run_start(algorithms=["item_knn"])

    artifact = artifact_read(run.artifact)

    assert artifact.algorithm == "item_knn"
    assert artifact.user_pks.dtype == np.int64 and artifact.item_pks.dtype == np.int64
    # np.load(allow_pickle=False) would refuse object arrays: every array is plain.
    assert artifact.user_pks.size == 24 and artifact.item_pks.size == 12
