"""The product taxonomy over the real catalogue, and re-categorising an existing store."""

from __future__ import annotations

import csv
import gzip
import io
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from django.core.management import call_command

from shop import taxonomy
from shop.importer import is_product_code
from shop.models import Category, Product
from tests.factories import CategoryFactory, ProductFactory

DATA_FILE = Path(__file__).resolve().parents[2] / "data" / "online_retail" / "online_retail.csv.gz"


@pytest.fixture(scope="module")
def descriptions() -> list[str]:
    """One description per product of the data set: its most frequent one, as imported."""
    seen: defaultdict[str, Counter[str]] = defaultdict(Counter)
    with gzip.open(DATA_FILE, "rt", encoding="utf-8", newline="") as file:
        for row in csv.DictReader(file):
            code = row["StockCode"].strip().upper()
            if row["Description"].strip() and is_product_code(code):
                seen[code][row["Description"].strip()] += 1
    return [counts.most_common(1)[0][0] for counts in seen.values()]


def test_the_taxonomy_has_ten_to_twenty_categories():
    assert 10 <= len(taxonomy.CATEGORIES) <= 20
    assert taxonomy.CATEGORIES[-1] == taxonomy.OTHER


def test_other_holds_under_a_tenth_of_the_real_products(descriptions):
    categories = Counter(taxonomy.category_for_text(text) for text in descriptions)

    assert len(descriptions) > 3500
    assert categories[taxonomy.OTHER] < 0.10 * len(descriptions)
    # No category swallows the catalogue the way "Other" did.
    assert max(categories.values()) < 0.20 * len(descriptions)
    assert set(categories) <= set(taxonomy.CATEGORIES)


def test_every_hand_warmer_of_the_real_data_lands_in_one_category(descriptions):
    warmers = [text for text in descriptions if "HAND WARMER" in text.upper()]

    assert len(warmers) >= 8
    assert {taxonomy.category_for_text(text) for text in warmers} == {"Accessories"}


@pytest.mark.parametrize(
    ("text", "category"),
    [
        ("WHITE HANGING HEART T-LIGHT HOLDER", "Candles & Lighting"),
        ("HAND WARMER RED LOVE HEART", "Accessories"),
        ("RED RETROSPOT LUNCH BAG", "Bags & Purses"),
        ("CHRISTMAS CANDLE", "Christmas"),
        ("SET OF 60 I LOVE LONDON CAKE CASES", "Kitchen & Baking"),
        ("KNITTED UNION FLAG HOT WATER BOTTLE", "Textiles & Bathroom"),
        ("PARISIENNE JEWELLERY DRAWER", "Storage & Organisation"),
        ("SET OF 4 DIAMOND NAPKIN RINGS", "Tableware"),
        ("CAMOUFLAGE LED TORCH", "Candles & Lighting"),
        ("VINTAGE SEASIDE JIGSAW PUZZLES", "Toys & Games"),
    ],
)
def test_a_phrase_outranks_a_word_and_a_season_outranks_a_kind(text, category):
    assert taxonomy.category_for_text(text) == category


def test_plurals_match_their_singular():
    assert taxonomy.category_for_text("BOXES") == taxonomy.category_for_text("BOX")
    assert taxonomy.category_for_text("RED HEARTS") == taxonomy.category_for_text("RED HEART")


@pytest.mark.django_db
def test_recategorise_moves_products_rewrites_generated_text_and_drops_empty_categories():
    old = CategoryFactory(name="Other", slug="other")
    legacy = CategoryFactory(name="Candles & Lights", slug="candles-lights")
    warmer = ProductFactory(
        sku="84029E",
        name="Hand Warmer Red Love Heart",
        category=old,
        description=taxonomy.product_description(
            name="Hand Warmer Red Love Heart", category="Other", sku="84029E"
        ),
    )
    holder = ProductFactory(
        name="White Hanging Heart T-Light Holder", category=legacy, description="Hand written."
    )
    stays = ProductFactory(name="Unsaleable, Destroyed.", category=old)

    out = io.StringIO()
    call_command("recategorise_products", stdout=out)

    warmer.refresh_from_db()
    holder.refresh_from_db()
    stays.refresh_from_db()
    assert warmer.category.name == "Accessories"
    assert warmer.description == (
        "Hand Warmer Red Love Heart, from the accessories range (stock code 84029E)."
    )
    assert (holder.category.name, holder.description) == ("Candles & Lighting", "Hand written.")
    assert stays.category == old
    assert not Category.objects.filter(name="Candles & Lights").exists()
    assert Category.objects.get(name="Candles & Lighting").slug == "candles-lighting"
    assert "Moved 2 products" in out.getvalue()


@pytest.mark.django_db
def test_recategorise_dry_run_changes_nothing():
    other = CategoryFactory(name="Other", slug="other")
    warmer = ProductFactory(name="Hand Warmer Union Jack", category=other)

    out = io.StringIO()
    call_command("recategorise_products", "--dry-run", stdout=out)

    assert Product.objects.get(pk=warmer.pk).category == other
    assert list(Category.objects.values_list("name", flat=True)) == ["Other"]
    assert "Would move 1 products" in out.getvalue()
