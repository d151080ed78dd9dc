"""A web process serves a fitted blend without importing scikit-learn (fit-time only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from recommendations.artifacts import artifact_read
from recommendations.models import TrainingRun
from recommendations.services import training_run_start
from tests.processes import database_environment, inherited_environment, python_report
from tests.recommendations.test_training import SMALL_SHOP_BLEND, make_small_shop

ROOT = Path(__file__).resolve().parents[2]

# What a web worker does: load the URLconf (views, admin, API), then serve lists.
SERVE = """
import importlib, json, sys
import django
django.setup()
from django.conf import settings
from django.contrib.auth import get_user_model
importlib.import_module(settings.ROOT_URLCONF)
from recommendations import selectors
from recommendations.serving.loading import active_model
user = get_user_model().objects.get(pk={user_pk})
personal = selectors.recommendations_for_user(user=user, n=5)
anonymous = selectors.recommendations_for_session(item_pks=[{item_pk}], n=5)
print(json.dumps({{
    "served": type(active_model().recommender).__name__,
    "personal": len(personal),
    "anonymous": len(anonymous),
    "sklearn": sorted(m for m in sys.modules if m.split(".")[0] == "sklearn"),
}}))
"""


@pytest.mark.django_db(transaction=True)
def test_a_web_process_serves_a_fitted_blend_without_importing_scikit_learn(
    settings, private_artifacts
):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RECOMMENDATIONS = {
        **settings.RECOMMENDATIONS,
        "ALGORITHMS": {"blend": SMALL_SHOP_BLEND},
    }
    shop = make_small_shop()
    run = training_run_start()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    assert artifact_read(run.artifact).recommender.fallback_ is None  # the ranker serves
    assert settings.RECOMMENDATIONS["USER_FEATURES"]  # hashed at request time too

    env = {
        **inherited_environment(),
        **database_environment(),
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "VAR_DIR": str(private_artifacts),
        "PYTHONPATH": str(ROOT),
    }
    code = SERVE.format(user_pk=shop.users[0].pk, item_pk=shop.products[0].pk)
    report = python_report(code, env=env)

    assert report["served"] == "BlendRecommender"
    assert report["personal"] > 0 and report["anonymous"] > 0
    assert report["sklearn"] == []
