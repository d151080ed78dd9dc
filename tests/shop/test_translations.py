"""The demo store speaks German too: its catalog (shop/locale, its templates included) is
complete and compiled, and its pages, forms and messages follow the shopper's language."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.urls import reverse

from tests.catalogs import (
    catalog_translations,
    compiled_translations,
    needs_gettext,
    po_entries,
)
from tests.factories import CategoryFactory, OrderLineFactory, ProductFactory

CATALOG = Path(settings.BASE_DIR) / "shop" / "locale" / "de" / "LC_MESSAGES" / "django.po"
GERMAN = {"HTTP_ACCEPT_LANGUAGE": "de"}
UPDATE = (
    "export DJANGO_SETTINGS_MODULE=tests.settings && ./manage.py makemessages -l de "
    "--no-location --ignore recommendations --ignore tests --ignore benchmarks "
    "--ignore '.venv*' --ignore var --ignore data --ignore bin --ignore config, translate "
    "the new entries, then (cd shop && ../manage.py compilemessages -l de)"
)


pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


def test_the_stores_german_catalog_is_complete_and_compiled():
    translations = catalog_translations(CATALOG)

    assert len(translations) > 100
    assert compiled_translations(CATALOG.with_suffix(".mo")) == translations


@needs_gettext
@pytest.mark.gettext
def test_no_user_facing_string_of_the_store_is_missing_from_its_catalog(
    tmp_path, monkeypatch, settings
):
    # The store's code and the project's templates, as makemessages sees them there.
    for folder in ("shop", "templates"):
        shutil.copytree(
            Path(settings.BASE_DIR) / folder,
            tmp_path / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.mo", "fixtures"),
        )
    settings.LOCALE_PATHS = [tmp_path / "shop" / "locale"]
    monkeypatch.chdir(tmp_path)

    # The project's templates/recommendations/ overrides app templates: nothing to mark.
    call_command(
        "makemessages", locale=["de"], no_location=True, ignore_patterns=["recommendations"]
    )

    extracted = set(po_entries(tmp_path / "shop" / "locale" / "de" / "LC_MESSAGES" / "django.po"))
    shipped = set(po_entries(CATALOG))
    assert extracted - shipped == set(), f"marked but not in the catalog: {UPDATE}"
    assert shipped - extracted == set(), f"in the catalog but no longer marked: {UPDATE}"


def test_the_home_page_in_german(client):
    mugs = CategoryFactory(name="Mugs", slug="mugs")
    OrderLineFactory(product=ProductFactory(name="Blue Mug", category=mugs))

    html = client.get(reverse("shop:home"), **GERMAN).content.decode()

    assert '<html lang="de">' in html
    assert "Nach Kategorie einkaufen" in html and "Warenkorb" in html and "Anmelden" in html
    assert "Auf Lager" in html and "Gerade gefragt" in html
    assert "Shop by category" not in html and "Sign in" not in html


def test_adding_to_the_cart_in_german_says_so_in_german(client):
    product = ProductFactory(name="Blue Mug", stock_quantity=5)

    added = client.post(
        reverse("shop:cart_add", args=[product.pk]), {"quantity": 2}, follow=True, **GERMAN
    )
    too_many = client.post(
        reverse("shop:cart_add", args=[product.pk]), {"quantity": 9}, follow=True, **GERMAN
    )

    assert "Blue Mug (2 Stück) in den Warenkorb gelegt." in added.content.decode()
    assert "Ihr Warenkorb" in client.get(reverse("shop:cart"), **GERMAN).content.decode()
    assert "Nur 5 von Blue Mug auf Lager." in too_many.content.decode()


def test_the_store_stays_english_without_a_language_asked(client):
    html = client.get(reverse("shop:home")).content.decode()

    assert '<html lang="en-gb">' in html and "Shop by category" in html
