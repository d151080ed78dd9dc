"""``setup_demo`` trains again when the active model's file is gone (moved in 0.2.0)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from recommendations.artifacts import artifact_delete
from recommendations.models import TrainingRun
from tests.recommendations.test_training import FAST_ALGORITHMS, make_small_shop

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "ALGORITHMS": FAST_ALGORITHMS}
    make_small_shop()


def _setup_demo() -> str:
    out = StringIO()
    call_command("setup_demo", stdout=out)
    return out.getvalue()


def test_a_second_run_keeps_the_active_model(demo):
    _setup_demo()
    first = TrainingRun.objects.get(is_active=True)

    output = _setup_demo()

    assert "already active" in output
    assert TrainingRun.objects.get(is_active=True) == first


def test_an_active_model_without_its_file_is_trained_again(demo):
    _setup_demo()
    lost = TrainingRun.objects.get(is_active=True)
    artifact_delete(lost.artifact)

    output = _setup_demo()

    assert "model file is missing" in output
    assert TrainingRun.objects.get(is_active=True).pk != lost.pk
