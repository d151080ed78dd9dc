"""The app speaks the shopper's language: a complete German catalog, compiled and current,
German pages and admin, and reasons worded at display time even from the list cache."""

from __future__ import annotations

import pickle
import shutil
import subprocess
from pathlib import Path

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import translation

import recommendations
from recommendations import reasons, selectors, serving
from recommendations.models import TrainingRun
from tests.catalogs import (
    catalog_translations,
    compiled_translations,
    needs_gettext,
    po_entries,
)
from tests.recommendations.store import buyer, caches_clear

PACKAGE = Path(recommendations.__file__).parent
CATALOG = PACKAGE / "locale" / "de" / "LC_MESSAGES" / "django.po"
GERMAN = {"HTTP_ACCEPT_LANGUAGE": "de"}
UPDATE = (
    "cd recommendations && export DJANGO_SETTINGS_MODULE=tests.settings && "
    "../manage.py makemessages -l de --no-location, translate the new entries, then "
    "../manage.py compilemessages -l de"
)


def test_every_german_message_is_translated_with_the_same_placeholders():
    assert len(catalog_translations(CATALOG)) > 200  # the whole app, not a sample


def test_the_compiled_catalog_holds_exactly_the_translations_of_the_po():
    assert compiled_translations(CATALOG.with_suffix(".mo")) == catalog_translations(CATALOG)


@needs_gettext
@pytest.mark.gettext
def test_msgfmt_accepts_the_catalog_as_valid_python_format(tmp_path):
    result = subprocess.run(
        ["msgfmt", "--check", "--statistics", "-o", str(tmp_path / "django.mo"), str(CATALOG)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "untranslated" not in result.stderr and "fuzzy" not in result.stderr, result.stderr


@needs_gettext
@pytest.mark.gettext
def test_no_user_facing_string_of_the_package_is_missing_from_the_catalog(tmp_path, monkeypatch):
    # makemessages on a copy: new marked strings would appear, gone ones turn obsolete.
    copy = tmp_path / "recommendations"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    monkeypatch.chdir(copy)

    call_command("makemessages", locale=["de"], no_location=True, verbosity=0)

    extracted = set(po_entries(copy / "locale" / "de" / "LC_MESSAGES" / "django.po"))
    shipped = set(po_entries(CATALOG))
    assert extracted - shipped == set(), f"marked but not in the catalog: {UPDATE}"
    assert shipped - extracted == set(), f"in the catalog but no longer marked: {UPDATE}"


@pytest.fixture
def trained(store):
    caches_clear()
    return store


def test_the_home_page_in_german_shows_german_blocks_and_reasons(client, trained):
    alice = buyer(trained.product(0, 0))
    client.force_login(alice)

    html = client.get(reverse("shop:home"), **GERMAN).content.decode()

    assert "Empfehlungen für Sie" in html and "Gerade gefragt" in html
    assert "Weil Sie A0 gekauft haben" in html
    assert "Gerade gefragt in Cat " in html
    assert "Because you" not in html and "Recommended for you" not in html


def test_the_product_page_in_german_shows_german_titles_and_reasons(client, trained):
    product = trained.product(0, 0)

    html = client.get(product.get_absolute_url(), **GERMAN).content.decode()

    assert "Ähnliche Produkte" in html and "Häufig zusammen gekauft" in html
    assert "Ähnlich wie A0" in html or "Oft zusammen gekauft mit A0" in html
    assert "Similar products" not in html and "Similar to" not in html


def test_the_same_page_in_english_stays_english(client, trained):
    product = trained.product(0, 0)

    html = client.get(product.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="en").content.decode()

    assert "Similar products" in html and "Ähnliche Produkte" not in html


def test_the_training_runs_admin_in_german_shows_german_labels(staff_client, trained):
    html = staff_client.get(
        reverse("admin:recommendations_trainingrun_changelist"), **GERMAN
    ).content.decode()

    assert "Trainingsläufe" in html or "Trainingslauf" in html
    assert "Qualität auf den zurückgehaltenen Daten im Zeitverlauf, je Algorithmus" in html
    assert "Jetzt trainieren (im Hintergrund)" in html
    assert "Trainiert mit" in html and "Dauer" in html
    assert "Vorschau für einen Kunden" in html
    assert "Holdout quality over time" not in html and "Train now (in the background)" not in html


def test_admin_messages_are_german(staff_client, trained):
    run = TrainingRun.objects.get(is_active=True)
    response = staff_client.post(
        reverse("admin:recommendations_trainingrun_changelist"),
        {"action": "promote", "index": 0, "_selected_action": [run.pk]},
        follow=True,
        **GERMAN,
    )

    assert f"Lauf #{run.pk} ({run.algorithm}) liefert jetzt aus." in response.content.decode()


def test_a_cached_list_reads_in_the_language_of_each_request(trained, monkeypatch):
    alice = buyer(trained.product(0, 0))
    explained = []
    recommender = serving.active_model().recommender
    explain_batch = recommender.explain_batch

    def counting(*args, **kwargs):
        explained.append(args)
        return explain_batch(*args, **kwargs)

    monkeypatch.setattr(recommender, "explain_batch", counting)

    def reasons_in(language):
        with translation.override(language):
            return [str(r.reason) for r in selectors.recommendations_for_user(user=alice, n=4)]

    english, german = reasons_in("en"), reasons_in("de")
    computed = len(explained)
    # Again from the cache: this process's memory, then the shared cache (unpickled).
    again = reasons_in("de"), reasons_in("en")
    serving.process_state.reset(lists_only=True)
    shared = reasons_in("de"), reasons_in("en")

    assert english[0] == "Because you bought A0" and german[0] == "Weil Sie A0 gekauft haben"
    assert again == shared == (german, english)
    assert len(explained) == computed  # no list was computed again


def test_a_reason_of_a_cached_list_is_worded_when_shown(trained):
    alice = buyer(trained.product(0, 0))
    with translation.override("de"):
        cached = selectors.recommendations_for_user(user=alice, n=4)

    with translation.override("en"):
        assert str(cached[0].reason) == "Because you bought A0"
    with translation.override("de"):
        assert str(cached[0].reason) == "Weil Sie A0 gekauft haben"


def test_a_list_cached_by_a_german_shopper_reads_in_english_for_an_english_one(trained):
    alice = buyer(trained.product(0, 0))
    with translation.override("de"):
        german = selectors.trending_products(n=4, user=alice)
        assert all(str(r.reason).startswith("Gerade gefragt") for r in german)

    with translation.override("en"):
        english = selectors.trending_products(n=4, user=alice)
        assert all(str(r.reason).startswith("Trending") for r in english)


def test_a_reason_pickles_as_its_message_and_parameters_not_as_text():
    reason = reasons.because_you(source="purchase", label="Becher")

    with translation.override("de"):
        stored = pickle.dumps(reason)
    with translation.override("en"):
        assert str(pickle.loads(stored)) == "Because you bought Becher"
    with translation.override("de"):
        assert str(pickle.loads(stored)) == "Weil Sie Becher gekauft haben"


def test_the_api_answers_in_the_requests_language(client, trained):
    alice = buyer(trained.product(0, 0))
    client.force_login(alice)
    me = reverse("recommendations:me")

    german = client.get(me, {"n": 4}, **GERMAN).json()["results"]
    english = client.get(me, {"n": 4}, HTTP_ACCEPT_LANGUAGE="en").json()["results"]
    unknown = client.post(
        reverse("recommendations:events"),
        {"product": "no-such-product", "kind": "view"},
        content_type="application/json",
        **GERMAN,
    )

    assert german[0]["reason"] == "Weil Sie A0 gekauft haben"
    assert english[0]["reason"] == "Because you bought A0"
    assert unknown.status_code == 400
    assert unknown.json()["product"] == ["Unbekanntes Produkt."]


@pytest.mark.parametrize(
    ("url", "german"),
    [
        (reverse("admin:app_list", args=["recommendations"]), "Werkzeuge für Mitarbeiter"),
        (reverse("admin:recommendations_click_through"), "Je Block und Version"),
        (reverse("admin:recommendations_signal_jumps"), "Signalsprünge durch neue Konten"),
        (reverse("admin:recommendations_release_lock"), "Ja, Sperre freigeben"),
        (reverse("admin:recommendations_itemrule_add"), "Wo ein angehefteter Artikel"),
        (reverse("admin:recommendations_experiment_add"), "Lauf des Herausforderers"),
        (reverse("admin:recommendations_impression_changelist"), "Impressionen"),
    ],
)
def test_every_staff_page_of_the_app_renders_in_german(staff_client, url, german):
    response = staff_client.get(url, **GERMAN)

    assert response.status_code == 200
    assert german in response.content.decode()


def test_the_preview_in_german_names_pages_blocks_and_reasons(staff_client, trained):
    alice = buyer(trained.product(0, 0))

    html = staff_client.get(
        reverse("admin:recommendations_preview"),
        {"customer": alice.username, "product": trained.product(1, 0).pk},
        **GERMAN,
    ).content.decode()

    assert "Startseite" in html and "Produktseite" in html
    assert "Empfehlungen für Sie" in html and "Weil Sie A0 gekauft haben" in html
    assert "Einwilligung in die Personalisierung" in html
