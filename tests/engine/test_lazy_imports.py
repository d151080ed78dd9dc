"""Loading a model imports only its algorithms: serving a blend or a social re-ranker
never imports scikit-learn."""

from __future__ import annotations

import pytest

from recommendations import engine
from recommendations.engine.base import BUILT_IN, recommender_class, registered_names
from recommendations.engine.blend import BlendRecommender
from tests.engine.test_content import grouped_purchases
from tests.engine.test_social_rerank import fit_both
from tests.processes import python_report

LOAD = """
import json, sys
from recommendations.engine import load
model = load({path!r})
items, _ = model.recommend(0, n=5)
print(json.dumps({{
    "name": model.name,
    "ranked": len(items),
    "engine": sorted(m for m in sys.modules if m.startswith("recommendations.engine.")),
    "sklearn": sorted(m for m in sys.modules if m.split(".")[0] == "sklearn"),
}}))
"""


def test_a_fresh_process_loading_a_blend_imports_only_its_algorithms(tmp_path):
    data = grouped_purchases(n_users=120)
    model = BlendRecommender(max_validation_users=50, compare_components=False).fit(
        data["interactions"], timestamps=data["timestamps"]
    )
    assert model.fallback_ is None  # the learned ranker, as served
    path = tmp_path / "blend.npz"
    model.save(path)

    report = python_report(LOAD.format(path=str(path)))

    assert report["name"] == "blend" and report["ranked"] == 5
    assert report["sklearn"] == []
    loaded = set(report["engine"])
    assert "recommendations.engine.blend" in loaded and "recommendations.engine.ease" in loaded
    for module in ("mlp", "svd", "content", "social", "ranker", "text", "features"):
        assert f"recommendations.engine.{module}" not in loaded


def test_a_fresh_process_serving_a_social_reranker_never_imports_scikit_learn(tmp_path):
    rerank, _, _, _ = fit_both()
    assert rerank.rerank_weights_.size  # a learned re-ranker, as served
    path = tmp_path / "social_rerank.npz"
    rerank.save(path)

    report = python_report(LOAD.format(path=str(path)))

    assert report["name"] == "social_rerank" and report["ranked"] == 5
    assert report["sklearn"] == []
    assert "recommendations.engine.ranker" not in report["engine"]


def test_every_built_in_path_names_the_class_registered_under_its_name():
    for name, path in BUILT_IN.items():
        klass = recommender_class(name)
        assert klass.name == name
        assert f"{klass.__module__}.{klass.__qualname__}" == path
    assert set(engine.registered()) == set(registered_names()) >= set(BUILT_IN)


def test_the_package_offers_each_algorithm_class_by_name():
    assert engine.BlendRecommender is BlendRecommender
    assert engine.CatalogTooLargeError.__module__ == "recommendations.engine.ease"
    with pytest.raises(AttributeError):
        engine.NoSuchRecommender  # noqa: B018


def test_an_unknown_name_is_a_lookup_error():
    with pytest.raises(LookupError, match="'nope'"):
        recommender_class("nope")
