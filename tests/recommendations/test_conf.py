"""The typed accessors of the RECOMMENDATIONS setting."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from recommendations.conf import DEFAULT_ALGORITHMS, EventSource, app_settings

MINIMAL = {
    "CATALOG": {"MODEL": "shop.Product"},
    "EVENT_SOURCES": [
        {
            "MODEL": "shop.OrderLine",
            "USER_FIELD": "order__user",
            "ITEM_FIELD": "product",
            "TIME_FIELD": "created_at",
        }
    ],
}


def test_a_minimal_setting_gets_every_default():
    with override_settings(RECOMMENDATIONS=MINIMAL):
        assert app_settings.CATALOG_MODEL == "shop.Product"
        assert app_settings.CATALOG_AVAILABLE == {}
        assert app_settings.CATEGORY_FIELD is None
        assert app_settings.TEXT_FIELDS == []
        assert app_settings.CONSENT_FIELD is None
        assert app_settings.USER_FEATURES == {}
        assert app_settings.HALF_LIFE_DAYS == 180
        assert app_settings.TRENDING_HALF_LIFE_DAYS == 14
        assert app_settings.ALGORITHMS == DEFAULT_ALGORITHMS
        assert app_settings.PROMOTION_METRIC == "ndcg"
        assert app_settings.HOLDOUT_DAYS == 30
        assert app_settings.MIN_IMPROVEMENT == 0.0
        assert app_settings.MIN_USERS == 50
        assert app_settings.AUTO_PROMOTE is True
        assert app_settings.EVALUATION_K == 20
        assert app_settings.EVALUATION_SOURCES == ["shop.OrderLine"]
        assert not app_settings.REPEAT_PURCHASE_CATEGORIES
        assert app_settings.MAX_PER_CATEGORY == 3
        assert app_settings.CACHE_TIMEOUT == 300
        assert app_settings.RELOAD_INTERVAL == 5
        assert app_settings.ADAPTER == "recommendations.adapters.SettingsAdapter"
        assert app_settings.ARTIFACT_STORAGE == "recommendations"
        assert Path(settings.BASE_DIR) / "var" == app_settings.ARTIFACT_ROOT
        assert app_settings.ARTIFACT_PATH == "recommendations/"
        assert app_settings.TRAINING_LOCK_TIMEOUT == 3600
        (source,) = app_settings.EVENT_SOURCES
    assert source == EventSource(
        name="shop.OrderLine",
        model="shop.OrderLine",
        user_field="order__user",
        item_field="product",
        time_field="created_at",
    )


def test_values_are_reread_on_every_access(settings):
    settings.RECOMMENDATIONS = {**MINIMAL, "PROMOTION": {"METRIC": "recall", "HOLDOUT_DAYS": 7}}
    assert app_settings.PROMOTION_METRIC == "recall"
    assert app_settings.HOLDOUT_DAYS == 7
    settings.RECOMMENDATIONS = {**MINIMAL, "PROMOTION": {"METRIC": "coverage"}}
    assert app_settings.PROMOTION_METRIC == "coverage"
    assert app_settings.HOLDOUT_DAYS == 30


def test_the_demo_setting_reads_through(settings):
    sources = app_settings.EVENT_SOURCES
    assert [s.name for s in sources] == ["purchase", "view", "review"]
    assert sources[2].value_map["1"] == -1.0 and sources[2].value_field == "rating"
    assert sources[0].filter == {"order__status": "placed"}
    assert app_settings.CONSENT_FIELD == "profile__personalisation_consent"
    assert app_settings.EVALUATION_SOURCES == ["purchase"]
    assert [s.role for s in sources] == ["purchase", "view", None]


def _source(**extra):
    return {**MINIMAL["EVENT_SOURCES"][0], **extra}


def test_a_role_is_set_explicitly_or_taken_from_the_name(settings):
    settings.RECOMMENDATIONS = {
        **MINIMAL,
        "EVENT_SOURCES": [
            _source(NAME="sale", ROLE="purchase", VERB="ordered"),
            _source(NAME="purchase"),
            _source(NAME="visit", ROLE="view"),
            _source(NAME="view", ROLE=None),
            _source(NAME="wish"),
        ],
    }
    sources = app_settings.EVENT_SOURCES
    assert [s.role for s in sources] == ["purchase", "purchase", "view", None, None]
    assert sources[0].verb == "ordered" and sources[1].verb is None
    assert app_settings.source_names("purchase") == ["sale", "purchase"]
    assert app_settings.source_names("view") == ["visit"]
    # Holdout hits and conversions default to the purchase sources, wherever they are.
    raw = settings.RECOMMENDATIONS["EVENT_SOURCES"]
    settings.RECOMMENDATIONS = {**MINIMAL, "EVENT_SOURCES": [_source(NAME="click"), *raw]}
    assert app_settings.EVALUATION_SOURCES == ["sale", "purchase"]
    assert app_settings.CONVERSION_SOURCES == ["sale", "purchase"]


def test_the_setting_is_read_once_until_override_settings_changes_it(settings):
    settings.RECOMMENDATIONS = {**MINIMAL, "EVENT_SOURCES": [_source(NAME="sale")]}
    first = app_settings.EVENT_SOURCES
    again = app_settings.EVENT_SOURCES
    assert again is first  # kept: a later read is an attribute read, nothing parsed
    assert app_settings.source_names("view") == []
    # Kept values are read-only: a caller cannot change them for the next one.
    assert isinstance(first, tuple)
    with pytest.raises(TypeError):
        app_settings.CATALOG_AVAILABLE["is_active"] = False  # type: ignore[index]
    settings.RECOMMENDATIONS = {
        **MINIMAL,
        "EVENT_SOURCES": [_source(NAME="sale"), _source(NAME="visit", ROLE="view")],
    }
    assert app_settings.source_names("view") == ["visit"]
    settings.RECOMMENDATIONS = {**MINIMAL, "EVENT_SOURCES": [_source(NAME="loan")]}
    assert [source.name for source in app_settings.EVENT_SOURCES] == ["loan"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [({"ROLE": "sale"}, r"\['ROLE'\] must be one of"), ({"VERB": " "}, r"\['VERB'\] must be")],
)
def test_a_bad_role_or_verb_is_refused(settings, extra, message):
    settings.RECOMMENDATIONS = {**MINIMAL, "EVENT_SOURCES": [_source(**extra)]}
    with pytest.raises(ImproperlyConfigured, match=message):
        app_settings.EVENT_SOURCES  # noqa: B018


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"EVENT_SOURCES": MINIMAL["EVENT_SOURCES"]}, r"\['CATALOG'\]\['MODEL'\] is not set"),
        ({"CATALOG": MINIMAL["CATALOG"]}, r"EVENT_SOURCES'\] is not set"),
        (
            {**MINIMAL, "EVENT_SOURCES": [{"MODEL": "shop.OrderLine"}]},
            "lacks USER_FIELD, ITEM_FIELD, TIME_FIELD",
        ),
    ],
)
def test_required_keys_fail_with_a_clear_message(setting, message):
    with (
        override_settings(RECOMMENDATIONS=setting),
        pytest.raises(ImproperlyConfigured, match=message),
    ):
        app_settings.CATALOG_MODEL  # noqa: B018
        app_settings.EVENT_SOURCES  # noqa: B018
