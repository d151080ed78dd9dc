"""Product search: ranked, prefix-matching, typo-tolerant, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import pytest
from django.contrib.postgres.search import SearchQuery
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.urls import reverse

from shop.models import Product
from shop.search import ALL_WORDS, CORRECTED, SOME_WORDS, products_search, search_vector
from tests.factories import OrderLineFactory, ProductFactory

pytestmark = pytest.mark.django_db


def names(result) -> list[str]:
    return [product.name for product in result.products]


@pytest.fixture
def catalog():
    """A few products of the real data set, described the way the importer describes them."""
    products = {}
    for name, description in [
        ("3 Black Cats W Hearts Blank Card", "Assorted cards with hearts."),
        ("White Hanging Heart T-Light Holder", "A holder for tea lights."),
        ("Red Love Heart Shape Cup", "A cup."),
        ("Hand Warmer Red Love Heart", "Keeps hands warm."),
        ("Hand Warmer Union Jack", "Keeps hands warm."),
        ("Hi Tec Alpine Hand Warmer", "Keeps hands warm."),
        ("Pink Polkadot Hand Mirror", "A mirror for your handbag, warmer colours."),
        ("Jumbo Bag Vintage Doily", "A bag that holds a heart-shaped doily or two."),
        ("Zinc Metal Lantern", "A lantern."),
    ]:
        products[name] = ProductFactory(name=name, description=description)
    return products


def test_heart_ranks_products_with_heart_in_the_name_above_description_only(catalog):
    result = products_search(query="heart")

    found = names(result)
    assert result.match == ALL_WORDS
    assert set(found) == {
        "3 Black Cats W Hearts Blank Card",
        "White Hanging Heart T-Light Holder",
        "Red Love Heart Shape Cup",
        "Hand Warmer Red Love Heart",
        "Jumbo Bag Vintage Doily",
    }
    # Only its description speaks of a heart: last, whatever the alphabet says.
    assert found[-1] == "Jumbo Bag Vintage Doily"


def test_a_word_prefix_finds_the_whole_word(catalog):
    assert "White Hanging Heart T-Light Holder" in names(products_search(query="hear"))
    assert names(products_search(query="lant")) == ["Zinc Metal Lantern"]


def test_a_typo_is_corrected_to_a_word_of_the_product_names(catalog):
    result = products_search(query="hart")

    assert result.match == CORRECTED
    assert result.corrected_query == "heart"
    assert "Red Love Heart Shape Cup" in names(result)


def test_hand_warmer_finds_the_hand_warmers_first(catalog):
    found = names(products_search(query="hand warmer"))

    assert set(found[:3]) == {
        "Hand Warmer Red Love Heart",
        "Hand Warmer Union Jack",
        "Hi Tec Alpine Hand Warmer",
    }
    # "hand" and "warmer" only in its description or as a prefix: after them, if at all.
    assert "Pink Polkadot Hand Mirror" not in found[:3]


def test_a_query_no_product_matches_wholly_shows_those_matching_some_words(catalog):
    result = products_search(query="lantern teapot")

    assert result.match == SOME_WORDS
    assert names(result) == ["Zinc Metal Lantern"]


def test_nothing_found_offers_close_words_as_suggestions(catalog):
    result = products_search(query="lampern")

    assert result.products == []
    assert result.suggestions[0] == "lantern"


def test_inactive_products_are_not_found_and_the_index_follows_edits(catalog):
    lantern = catalog["Zinc Metal Lantern"]
    Product.objects.filter(pk=catalog["Red Love Heart Shape Cup"].pk).update(is_active=False)
    lantern.name, lantern.description = "Zinc Metal Birdhouse", "A birdhouse."
    lantern.save()
    catalog["Hand Warmer Union Jack"].delete()

    assert "Red Love Heart Shape Cup" not in names(products_search(query="heart"))
    assert names(products_search(query="birdhouse")) == ["Zinc Metal Birdhouse"]
    assert products_search(query="lantern").products == []
    assert "Hand Warmer Union Jack" not in names(products_search(query="union jack"))


def test_a_sku_finds_its_product_first(catalog):
    lantern = catalog["Zinc Metal Lantern"]

    assert names(products_search(query=lantern.sku)) == ["Zinc Metal Lantern"]


def test_search_syntax_in_a_query_is_read_as_words_never_as_syntax(catalog, client):
    heart = names(products_search(query="heart"))

    assert names(products_search(query="heart*")) == heart
    assert names(products_search(query='"heart"')) == heart
    for query in ['heart" OR "', "NEAR(heart", "heart & !cup", "'", "-", "heart:*"]:
        assert client.get(reverse("shop:search"), {"q": query}).status_code == 200


@pytest.mark.skipif(connection.vendor != "sqlite", reason="the FTS5 table is SQLite's")
def test_rebuild_search_index_restores_a_dropped_index(catalog):
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM shop_product_fts")
    assert products_search(query="lantern").products == []

    call_command("rebuild_search_index")

    assert names(products_search(query="lantern")) == ["Zinc Metal Lantern"]


def test_search_page_says_what_it_corrected(client, catalog):
    response = client.get(reverse("shop:search"), {"q": "hart"})

    assert response.status_code == 200
    content = response.content.decode()
    assert "Showing results for <strong>heart</strong>" in content
    assert "Red Love Heart Shape Cup" in content


def test_empty_search_page_offers_suggestions_and_popular_products(client, catalog):
    OrderLineFactory(product=catalog["Zinc Metal Lantern"])
    cache.clear()  # popular products are a cached list

    response = client.get(reverse("shop:search"), {"q": "lampern"})

    content = response.content.decode()
    assert response.status_code == 200
    assert '<a href="/search/?q=lantern">lantern</a>' in content
    assert [p.name for p in response.context["popular_products"]] == ["Zinc Metal Lantern"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the GIN index is PostgreSQL's")
def test_postgresql_search_can_use_the_gin_index(catalog):
    queryset = (
        Product.objects.annotate(document=search_vector())
        .filter(document=SearchQuery("heart:*", search_type="raw", config="english"))
        .values_list("pk", flat=True)
    )
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        plan = queryset.explain()

    assert "shop_product_search" in plan
