"""The recommendations app in a fresh django-oscar 4 shop, through Oscar's pages and models."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.core import checks
from django.db import connection
from django.template import RequestContext, Template
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from oscar.core.loading import get_class, get_model

from recommendations import selectors
from recommendations.contrib.oscar.adapters import OscarAdapter
from recommendations.serving.state import process_state
from tests.oscar.store import Category, Partner, Product, ProductClass, StockRecord, product_create

Basket = get_model("basket", "Basket")
Selector = get_class("partner.strategy", "Selector")
UserProductView = get_model("analytics", "UserProductView")

pytestmark = pytest.mark.django_db


def shown(response) -> list[int]:
    """Keys of the products the recommendation blocks of a page show, in order."""
    return [int(pk) for pk in re.findall(r'data-rec-item="(\d+)"', response.content.decode())]


def sources(response) -> set[str]:
    return set(re.findall(r'data-rec-source="(\w+)"', response.content.decode()))


def shopper(shop, *, categories: int):
    """A shopper who prefers ``categories`` categories."""
    pk = next(pk for pk, liked in shop.preferences.items() if len(liked) == categories)
    return get_user_model().objects.get(pk=pk)


def basket_add(client, product) -> None:
    response = client.post(reverse("basket:add", kwargs={"pk": product.pk}), {"quantity": 1})
    assert response.status_code == 302


def test_the_oscar_preset_passes_the_apps_system_checks(shop):
    errors = [e for e in checks.run_checks() if e.id.startswith("recommendations")]
    assert errors == []


def test_product_page_shows_oscar_product_cards_with_image_price_and_basket_form(shop, client):
    product = shop.products["Crime"][0]
    response = client.get(product.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    cards = re.findall(r'<li class="rec-item".*?</li>', html, flags=re.S)
    assert len(cards) >= 4
    for card in cards:
        assert 'class="product_pod"' in card
        assert "<img " in card
        assert "£9.99" in card
        assert re.search(r'action="/basket/add/\d+/"', card)
        assert "csrfmiddlewaretoken" in card
    assert "catalogue.Category.None" not in html
    assert product.pk not in shown(response)


def test_trending_reasons_name_the_products_oscar_category(shop):
    recommendations = selectors.trending_products(n=8, user=None)
    assert recommendations
    for rec in recommendations:
        category = rec.item.categories.get().name
        assert rec.reason == f"Trending in {category}"
        assert rec.price == Decimal("9.99")
        assert rec.label == rec.item.title


def test_a_shoppers_top_ten_comes_from_their_preferred_categories(shop, settings):
    settings.RECOMMENDATIONS = {**settings.RECOMMENDATIONS, "MAX_PER_CATEGORY": None}
    users = get_user_model().objects.filter(pk__in=shop.preferences)
    for user in users:
        top = selectors.recommendations_for_user(user=user, n=10)
        assert len(top) == 10
        preferred = sum(shop.category_of(rec.item.pk) in shop.preferences[user.pk] for rec in top)
        assert preferred >= 8, (user.username, shop.preferences[user.pk], preferred)


def test_nothing_a_shopper_bought_is_recommended_again(shop, client):
    users = get_user_model().objects.filter(pk__in=shop.preferences)
    for user in users:
        for block in (
            selectors.recommendations_for_user(user=user, n=20),
            selectors.trending_products(n=20, user=user),
        ):
            assert not {rec.item.pk for rec in block} & shop.bought[user.pk]
    user = users[0]
    client.force_login(user)
    page = client.get(shop.products["Travel"][0].get_absolute_url())
    assert shown(page) and not set(shown(page)) & shop.bought[user.pk]


def test_allocating_the_last_stock_removes_a_product_from_the_next_page(shop, client):
    user = shopper(shop, categories=1)
    client.force_login(user)
    page_url = shop.products["Poetry"][-1].get_absolute_url()
    first = shown(client.get(page_url))
    product = Product.objects.get(pk=first[0])
    record = product.stockrecords.get()
    record.num_in_stock, record.num_allocated = 1, 0
    record.save()
    assert first == shown(client.get(page_url))  # served from the cache
    record.allocate(1)  # Oscar's checkout allocation: an UPDATE plus post_save
    after = shown(client.get(page_url))
    assert product.pk not in after
    assert product not in OscarAdapter().available_items()


def _product_reads_by_key(queries: CaptureQueriesContext) -> list[str]:
    """The queries that read product rows by key (the catalog's instances)."""
    table = connection.ops.quote_name(Product._meta.db_table)
    sql = [q["sql"] for q in queries.captured_queries]
    return [s for s in sql if f"FROM {table}" in s and " IN (" in s]


def test_an_allocation_rereads_the_availability_and_keeps_the_instances(shop):
    user = shopper(shop, categories=1)
    first = selectors.recommendations_for_user(user=user, n=6)
    held = process_state.catalog.instances
    record = first[0].item.stockrecords.get()
    record.num_in_stock, record.num_allocated = 1, 0
    record.save(update_fields=["num_in_stock", "num_allocated"])
    record.allocate(1)  # Oscar's checkout allocation: an UPDATE plus the save signals

    with CaptureQueriesContext(connection) as queries:
        after = selectors.recommendations_for_user(user=user, n=6)

    assert first[0].item.pk not in {rec.item.pk for rec in after}
    assert len(after) == 6
    assert _product_reads_by_key(queries) == []
    assert process_state.catalog.instances is held


def test_a_stock_records_new_price_shows_in_the_next_list(shop):
    user = shopper(shop, categories=1)
    listed = [rec.item.pk for rec in selectors.recommendations_for_user(user=user, n=6)]
    record = StockRecord.objects.get(product_id=listed[0])
    record.allocate(1)  # an allocation (the instances are kept), then a price edit
    record.price = Decimal("123.45")
    record.save()

    # Another list (a cached one shows what it showed until CACHE_TIMEOUT).
    after = selectors.recommendations_for_user(user=user, n=7)

    prices = {rec.item.pk: rec.price for rec in after}
    assert Decimal(prices[record.product_id]) == Decimal("123.45")


def test_products_in_the_basket_are_never_recommended(shop, client):
    user = shopper(shop, categories=1)
    client.force_login(user)
    page_url = shop.products["Cooking"][-1].get_absolute_url()
    top = [Product.objects.get(pk=pk) for pk in shown(client.get(page_url))[:2]]
    for product in top:
        basket_add(client, product)
    for url in (page_url, reverse("basket:summary")):
        response = client.get(url)
        assert response.status_code == 200
        assert shown(response)
        assert not {p.pk for p in top} & set(shown(response))


def test_the_basket_page_shows_what_is_bought_with_the_basket_lines(shop, client):
    # Crime 0 is bought by shoppers of crime: the block names their other purchases.
    anchor = next(
        p for p in shop.products["Crime"] if any(p.pk in b for b in shop.bought.values())
    )
    basket_add(client, anchor)
    response = client.get(reverse("basket:summary"))
    html = response.content.decode()
    block = re.search(r'data-rec-block="bought_together".*?</section>', html, flags=re.S)
    assert block, "no bought-together block on the basket page"
    assert 'data-rec-source="bought_together"' in block.group(0)
    assert f'data-rec-item="{anchor.pk}"' not in html


def test_anonymous_browsing_through_oscars_history_cookie_personalises(shop, client):
    cold = client.get(shop.products["Travel"][-1].get_absolute_url())
    assert "session" not in sources(cold)
    for product in shop.products["Poetry"][:3]:
        client.get(product.get_absolute_url())
    assert client.cookies["oscar_history"].value
    warm = client.get(shop.products["Travel"][-1].get_absolute_url())
    assert "session" in sources(warm)
    viewed = {p.pk for p in shop.products["Poetry"][:3]}
    for_you = re.search(r'data-rec-block="for_you".*?</section>', warm.content.decode(), re.S)
    assert for_you and not viewed & {
        int(pk) for pk in re.findall(r'data-rec-item="(\d+)"', for_you.group(0))
    }


def test_a_view_posted_to_the_events_api_is_stored_as_oscars_user_product_view(shop, client):
    user = shopper(shop, categories=2)
    client.force_login(user)
    product = shop.products["Travel"][3]
    response = client.post(
        reverse("recommendations:events"), {"kind": "view", "product": str(product.pk)}
    )
    assert response.status_code == 202
    assert UserProductView.objects.filter(user=user, product=product).count() == 1


def test_availability_follows_oscars_stock_rule(db):
    partner = Partner.objects.create(name="P")
    tracked = ProductClass.objects.create(name="Tracked", track_stock=True)
    untracked = ProductClass.objects.create(name="Untracked", track_stock=False)
    category = Category.add_root(name="All", slug="all")

    def make(title, product_class, stock, allocated=0):
        product = product_create(
            title=title,
            category=category,
            product_class=product_class,
            partner=partner,
            stock=stock,
        )
        StockRecord.objects.filter(product=product).update(num_allocated=allocated)
        return product

    in_stock = make("In stock", tracked, 2, allocated=1)
    allocated = make("All allocated", tracked, 2, allocated=2)
    untracked_empty = make("Untracked, none in stock", untracked, 0)
    hidden = make("Not public", tracked, 5)
    hidden.is_public = False
    hidden.save()
    no_record = Product.objects.create(title="No stock record", product_class=tracked)
    parent = Product.objects.create(title="Parent", product_class=tracked, structure="parent")
    child = Product.objects.create(title="Child", parent=parent, structure="child")
    record = StockRecord.objects.create(
        product=child, partner=partner, partner_sku="C", price=Decimal(5), num_in_stock=1
    )
    adapter = OscarAdapter()
    assert set(adapter.available_items()) == {in_stock, untracked_empty, parent}
    record.allocate(1)
    assert set(adapter.available_items()) == {in_stock, untracked_empty}
    assert child not in adapter.available_items() and allocated not in adapter.available_items()
    assert no_record not in adapter.available_items()
    assert adapter.category_values([in_stock, child]) == {
        in_stock.pk: str(category.pk),
        child.pk: None,
    }


def test_bought_together_reads_oscar_basket_lines_passed_as_items(shop, rf):
    anchor = next(
        p for p in shop.products["Poetry"] if any(p.pk in b for b in shop.bought.values())
    )
    basket = Basket.objects.create()
    basket.strategy = Selector().strategy()
    basket.add_product(anchor)
    request = rf.get("/")
    request.user, request.session, request.strategy = AnonymousUser(), {}, basket.strategy
    # The shopper's own basket is empty: the block's anchors can only be the lines given.
    request.basket = Basket()
    html = Template("{% load recommendations_tags %}{% bought_together items=lines %}").render(
        RequestContext(request, {"lines": basket.all_lines()})
    )
    assert 'data-rec-source="bought_together"' in html
    assert f'data-rec-item="{anchor.pk}"' not in html
