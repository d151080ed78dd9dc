"""System checks fire on each kind of bad RECOMMENDATIONS setting."""

from __future__ import annotations

import copy

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from recommendations.checks import check_settings


def ids(errors) -> set[str]:
    return {error.id for error in errors}


def test_the_demo_configuration_passes():
    assert check_settings() == []
    call_command("check", fail_level="ERROR")


def _edit(settings, change) -> None:
    value = copy.deepcopy(django_settings.RECOMMENDATIONS)
    change(value)
    settings.RECOMMENDATIONS = value


@pytest.mark.parametrize("social", [True, False])
@pytest.mark.parametrize("unset", ["absent", "None"])
def test_algorithms_left_unset_take_their_default_and_pass(settings, social, unset):
    def change(value):
        if unset == "absent":
            del value["ALGORITHMS"]
        else:
            value["ALGORITHMS"] = None
        if not social:
            del value["SOCIAL"]

    _edit(settings, change)

    assert check_settings() == []


@pytest.mark.parametrize(
    ("change", "code", "text"),
    [
        (lambda s: s["CATALOG"].update(MODEL="shop.Nope"), "E001", "shop.Nope"),
        (lambda s: s["CATALOG"].pop("MODEL"), "E001", "is not set"),
        (lambda s: s["EVENT_SOURCES"][1].update(MODEL="nolabel"), "E001", "nolabel"),
        (lambda s: s["CATALOG"].update(CATEGORY_FIELD="colour"), "E002", "no field 'colour'"),
        (lambda s: s["CATALOG"].update(TEXT_FIELDS=["name", "blurb"]), "E002", "blurb"),
        (
            lambda s: s["CATALOG"].update(AVAILABLE={"stock__gt": 0}),
            "E002",
            "no field 'stock'",
        ),
        (lambda s: s["EVENT_SOURCES"][0].update(USER_FIELD="order__buyer"), "E002", "buyer"),
        (
            lambda s: s["EVENT_SOURCES"][0].update(USER_FIELD="order"),
            "E002",
            "must lead to auth.User",
        ),
        (
            lambda s: s["EVENT_SOURCES"][0].update(ITEM_FIELD="order"),
            "E002",
            "must lead to shop.Product",
        ),
        (lambda s: s["EVENT_SOURCES"][2].update(VALUE_FIELD="stars"), "E002", "stars"),
        (lambda s: s.update(CONSENT_FIELD="profile__consent"), "E002", "consent"),
        (lambda s: s["USER_FEATURES"].update(AGE="profile__age"), "E002", "age"),
        (lambda s: s["ALGORITHMS"].update(magic={}), "E003", "'magic'"),
        (lambda s: s.update(SIMILAR_ALGORITHM="telepathy"), "E003", "telepathy"),
        (lambda s: s["ALGORITHMS"].update(item_knn={"neighbours": 5}), "E003", "neighbours"),
        (lambda s: s.update(ALGORITHMS={}), "E003", "non-empty"),
        (lambda s: s["EVENT_SOURCES"][1].update(WEIGHT="heavy"), "E004", "WEIGHT"),
        (lambda s: s["EVENT_SOURCES"][1].update(WEIGHT=float("nan")), "E004", "WEIGHT"),
        (lambda s: s["EVENT_SOURCES"][2]["VALUE_MAP"].update({"5": "lots"}), "E004", "lots"),
        (lambda s: s.update(HALF_LIFE_DAYS=0), "E005", "HALF_LIFE_DAYS"),
        (lambda s: s.update(TRENDING_HALF_LIFE_DAYS=-3), "E005", "TRENDING_HALF_LIFE_DAYS"),
        (lambda s: s.update(HALF_LIFE_DAYS="long"), "E005", "HALF_LIFE_DAYS"),
        (lambda s: s.update(ADAPTER="recommendations.adapters.Nope"), "E006", "Nope"),
        (lambda s: s.update(ADAPTER="no.such.module.Adapter"), "E006", "ADAPTER"),
        (lambda s: s.update(EVENT_SOURCES=[]), "E007", "EVENT_SOURCES"),
        (lambda s: s.update(EVENT_SOURCES=[{"MODEL": "shop.Review"}]), "E007", "lacks"),
        (lambda s: s["EVENT_SOURCES"][0].update(ROLE="sale"), "E007", "ROLE"),
        (lambda s: s["EVENT_SOURCES"][2].update(VERB=3), "E007", "VERB"),
        (lambda s: s["PROMOTION"].update(METRIC="accuracy"), "E008", "METRIC"),
        (lambda s: s["PROMOTION"].update(HOLDOUT_DAYS=0), "E008", "HOLDOUT_DAYS"),
        (lambda s: s["PROMOTION"].update(MIN_USERS=0), "E008", "MIN_USERS"),
        (lambda s: s.update(ARTIFACT_STORAGE="s3"), "E009", "'s3'"),
        (lambda s: s.update(TRAINING_LOCK_TIMEOUT=60), "E010", "TRAINING_LOCK_TIMEOUT"),
        (lambda s: s.update(CACHE_TIMEOUT=0), "E011", "CACHE_TIMEOUT"),
        (lambda s: s.update(RELOAD_INTERVAL="often"), "E011", "RELOAD_INTERVAL"),
        (lambda s: s.update(HISTORY_TIMEOUT=-1), "E011", "HISTORY_TIMEOUT"),
        (lambda s: s.update(TRUST={"ENABLED": "yes"}), "E012", "ENABLED"),
        (lambda s: s.update(TRUST={"NO_PURCHASE_WEIGHT": 2}), "E012", "NO_PURCHASE_WEIGHT"),
        (lambda s: s.update(TRUST={"MIN_SUPPORT": "many"}), "E012", "MIN_SUPPORT"),
        (lambda s: s.update(TRUST={"MAX_ITEMS_PER_USER": 0}), "E012", "MAX_ITEMS_PER_USER"),
        (lambda s: s.update(TRUST={"REPORT_DAYS": 1.5}), "E012", "REPORT_DAYS"),
    ],
)
def test_each_bad_value_is_reported(settings, change, code, text):
    _edit(settings, change)

    errors = check_settings()

    assert ids(errors) == {f"recommendations.{code}"}, [e.msg for e in errors]
    assert any(text in error.msg for error in errors), [e.msg for e in errors]


def test_artifacts_in_the_public_default_storage_are_warned_about(settings):
    _edit(settings, lambda s: s.update(ARTIFACT_STORAGE="default"))

    warnings = check_settings()

    assert ids(warnings) == {"recommendations.W001"}
    assert "purchase history" in warnings[0].msg


def test_a_private_folder_under_media_root_is_warned_about(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    _edit(settings, lambda s: s.update(ARTIFACT_ROOT=tmp_path / "media" / "models"))

    assert ids(check_settings()) == {"recommendations.W001"}


def test_a_private_folder_beside_media_root_passes(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "var" / "media"
    _edit(settings, lambda s: s.update(ARTIFACT_ROOT=tmp_path / "var"))

    assert check_settings() == []


def test_without_base_dir_the_artifacts_need_a_folder(settings):
    del settings.BASE_DIR
    _edit(settings, lambda s: s.pop("ARTIFACT_ROOT"))

    errors = check_settings()

    assert ids(errors) == {"recommendations.E015"}
    assert "ARTIFACT_ROOT" in errors[0].hint


def test_half_life_none_means_no_decay_and_is_valid(settings):
    _edit(settings, lambda s: s.update(HALF_LIFE_DAYS=None))
    assert check_settings() == []


def test_a_missing_setting_is_reported(settings):
    del settings.RECOMMENDATIONS
    assert ids(check_settings()) == {"recommendations.E001"}


def test_the_checks_are_registered_with_django(settings):
    _edit(settings, lambda s: s["CATALOG"].update(MODEL="shop.Nope"))
    from django.core import checks

    assert "recommendations.E001" in ids(checks.run_checks())
