"""Browsing the store: home, categories, search, product pages and recorded views."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from shop import selectors
from shop.models import Order, Product, ProductView
from shop.signals import product_viewed
from tests.factories import (
    CategoryFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
)
from tests.recommendations.store import buyer, store_build, store_train

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


def test_home_shows_categories_search_box_and_trending_products(client):
    mugs = CategoryFactory(name="Mugs", slug="mugs")
    CategoryFactory(name="Empty", slug="empty")
    bestseller = ProductFactory(name="Bestseller Mug", category=mugs)
    runner_up = ProductFactory(name="Runner Up Mug", category=mugs)
    OrderLineFactory.create_batch(3, product=bestseller)
    OrderLineFactory(product=runner_up)

    response = client.get(reverse("shop:home"))

    assert response.status_code == 200
    content = response.content.decode()
    assert 'data-rec-block="trending"' in content
    assert content.index("Bestseller Mug") < content.index("Runner Up Mug")
    assert 'href="/category/mugs/"' in content
    assert 'src="/category/mugs/image.svg"' in content
    # A category with nothing to buy is no way into the shop.
    assert 'href="/category/empty/"' not in content
    assert 'action="/search/"' in content
    assert "UCI Online Retail, Daqing Chen, CC BY 4.0" in content


def test_popular_products_are_the_most_ordered(client):
    bestseller = ProductFactory(name="Bestseller Mug")
    runner_up = ProductFactory(name="Runner Up Mug")
    never_ordered = ProductFactory(name="Lonely Mug")
    OrderLineFactory.create_batch(3, product=bestseller)
    OrderLineFactory(product=runner_up)

    popular = selectors.products_popular()

    assert popular == [bestseller, runner_up]
    assert never_ordered not in popular


def test_popular_products_ignore_cancelled_orders(client):
    placed = ProductFactory(name="Placed")
    cancelled = ProductFactory(name="Cancelled")
    OrderLineFactory(product=placed)
    OrderLineFactory.create_batch(
        5, product=cancelled, order=OrderFactory(status=Order.Status.CANCELLED)
    )

    assert selectors.products_popular() == [placed]


def test_category_lists_only_active_products_24_per_page(client):
    category = CategoryFactory(slug="lights")
    ProductFactory.create_batch(30, category=category)
    hidden = ProductFactory(category=category, name="Zz Hidden", is_active=False)
    ProductFactory(name="Elsewhere")

    first = client.get(reverse("shop:category", args=["lights"]))
    second = client.get(reverse("shop:category", args=["lights"]), {"page": 2})

    assert first.status_code == second.status_code == 200
    assert first.context["page"].paginator.count == 30
    assert len(first.context["page"].object_list) == 24
    assert len(second.context["page"].object_list) == 6
    shown = set(first.context["page"].object_list) | set(second.context["page"].object_list)
    assert hidden not in shown
    assert 'href="?page=2"' in first.content.decode()


@pytest.mark.parametrize(("page", "expected"), [("999", 2), ("abc", 1), ("-1", 2), ("", 1)])
def test_bad_page_numbers_fall_back_instead_of_failing(client, page, expected):
    category = CategoryFactory(slug="bags")
    ProductFactory.create_batch(25, category=category)

    response = client.get(reverse("shop:category", args=["bags"]), {"page": page})

    assert response.status_code == 200
    assert response.context["page"].number == expected


def test_unknown_category_is_404(client):
    assert client.get(reverse("shop:category", args=["nope"])).status_code == 404


def test_search_matches_name_sku_and_description_of_active_products_only(client):
    by_name = ProductFactory(name="Red Retrospot Cake Stand")
    by_sku = ProductFactory(sku="RETRO99", name="Something")
    by_description = ProductFactory(name="Other", description="In the retrospot style.")
    ProductFactory(name="Retrospot Inactive", is_active=False)
    ProductFactory(name="Blue Bunting")

    response = client.get(reverse("shop:search"), {"q": "  retro "})

    assert response.status_code == 200
    assert set(response.context["page"].object_list) == {by_name, by_sku, by_description}
    assert response.context["query"] == "retro"


def test_search_paginates_and_keeps_the_query_in_page_links(client):
    ProductFactory.create_batch(26, description="heart shaped")

    response = client.get(reverse("shop:search"), {"q": "heart", "page": 2})

    assert len(response.context["page"].object_list) == 2
    assert "q=heart&amp;page=1" in response.content.decode()


def test_empty_or_overlong_search_shows_no_results_and_no_error(client):
    ProductFactory(name="Anything")

    empty = client.get(reverse("shop:search"), {"q": ""})
    too_long = client.get(reverse("shop:search"), {"q": "x" * 500})

    assert empty.status_code == too_long.status_code == 200
    assert empty.context["page"].paginator.count == 0
    assert too_long.context["page"].paginator.count == 0
    assert too_long.context["search_form"].errors["q"]


def test_product_page_shows_price_stock_and_cart_form(client):
    product = ProductFactory(name="Jumbo Bag", price="2.08", stock_quantity=7)

    response = client.get(reverse("shop:product", args=[product.pk]))

    content = response.content.decode()
    assert response.status_code == 200
    assert "£2.08" in content
    assert "7 available" in content
    assert reverse("shop:cart_add", args=[product.pk]) in content


def test_sold_out_product_page_has_no_cart_form(client):
    product = ProductFactory(stock_quantity=0)

    response = client.get(reverse("shop:product", args=[product.pk]))

    assert "Sold out" in response.content.decode()
    assert reverse("shop:cart_add", args=[product.pk]) not in response.content.decode()


def test_inactive_product_page_is_404(client):
    product = ProductFactory(is_active=False)

    assert client.get(reverse("shop:product", args=[product.pk])).status_code == 404
    assert not ProductView.objects.exists()


def test_product_view_is_recorded_for_signed_in_user(user_client, user):
    product = ProductFactory()

    user_client.get(reverse("shop:product", args=[product.pk]))
    user_client.get(reverse("shop:product", args=[product.pk]))

    views = ProductView.objects.filter(product=product)
    assert views.count() == 2
    assert {view.user for view in views} == {user}


def test_product_view_of_anonymous_visitor_creates_a_session_and_keys_the_view_by_it(client):
    product = ProductFactory()

    response = client.get(reverse("shop:product", args=[product.pk]))

    view = ProductView.objects.get(product=product)
    assert view.user is None
    assert view.session_key
    assert response.cookies["sessionid"].value == view.session_key


def test_product_viewed_signal_is_sent_with_product_user_and_request(user_client, user):
    product = ProductFactory()
    received = []

    def receiver(sender, **kwargs):
        received.append((sender, kwargs))

    product_viewed.connect(receiver)
    try:
        user_client.get(reverse("shop:product", args=[product.pk]))
    finally:
        product_viewed.disconnect(receiver)

    assert len(received) == 1
    sender, kwargs = received[0]
    assert sender is type(product)
    assert kwargs["product"] == product
    assert kwargs["user"] == user
    assert kwargs["request"].path == reverse("shop:product", args=[product.pk])


def test_popular_products_count_customers_so_one_huge_order_does_not_lead(client):
    huge = ProductFactory(name="Bulk Order")
    liked = ProductFactory(name="Liked By Many")
    OrderLineFactory(product=huge, quantity=80_995)
    for _ in range(3):
        OrderLineFactory(product=liked, quantity=1)

    assert selectors.products_popular() == [liked, huge]


def _blocks(content: str) -> dict[str, list[tuple[str, str]]]:
    """(product key, source) of each recommendation block of a page, by block name."""
    sections = re.findall(r'data-rec-block="(\w+)"(.*?)</section>', content, flags=re.S)
    item = r'data-rec-item="(\d+)" data-rec-source="(\w+)"'
    return {name: re.findall(item, body) for name, body in sections}


@pytest.mark.usefixtures("isolated_serving")
@pytest.mark.parametrize("shopper", ["anonymous", "returning customer"])
def test_no_product_appears_twice_on_the_home_and_product_pages(client, shopper):
    store = store_build()
    store_train()
    # Views of the best sellers too, which trending and the personal list rank first.
    viewed = [store.product(c, r) for c, r in ((2, 0), (3, 0), (5, 2), (6, 1), (1, 3))]
    if shopper == "returning customer":
        client.force_login(buyer(store.product(0, 0), store.product(4, 1)))
    for product in viewed:
        assert client.get(product.get_absolute_url()).status_code == 200
    product = store.product(4, 0)

    home = _blocks(client.get(reverse("shop:home")).content.decode())
    page = _blocks(client.get(product.get_absolute_url()).content.decode())

    assert list(home) == ["recently_viewed", "for_you", "trending"]
    # The shopper's own views, newest first, then what only the personal list knows.
    assert [pk for pk, _ in home["recently_viewed"]] == [str(p.pk) for p in viewed[::-1][:4]]
    assert {"similar", "bought_together", "for_you"} <= set(page)
    for blocks in (home, page):
        shown = [pk for items in blocks.values() for pk, _ in items]
        assert len(shown) == len(set(shown)), blocks
    assert str(product.pk) not in [pk for items in page.values() for pk, _ in items]
    # Each block lists what its title says, and nothing else.
    assert {source for _, source in page["similar"]} == {"similar"}
    assert {source for _, source in page["bought_together"]} == {"bought_together"}
    assert {source for _, source in home["recently_viewed"]} == {"recently_viewed"}


@pytest.mark.usefixtures("isolated_serving")
def test_a_product_without_neighbours_shows_no_similar_or_bought_together_block(client):
    store = store_build()
    store_train()
    newcomer = ProductFactory(name="Newcomer", category=store.categories[0])

    content = client.get(newcomer.get_absolute_url()).content.decode()

    assert "Similar products" not in content and "Frequently bought together" not in content
    assert not {"similar", "bought_together"} & set(_blocks(content))


@pytest.mark.usefixtures("isolated_serving")
def test_an_empty_cart_shows_no_bought_together_block(client):
    store = store_build()
    store_train()

    empty = client.get(reverse("shop:cart")).content.decode()
    client.post(reverse("shop:cart_add", args=[store.product(0, 0).pk]), {"quantity": 1})
    filled = client.get(reverse("shop:cart")).content.decode()

    assert "Frequently bought together" not in empty
    assert {source for _, source in _blocks(filled)["bought_together"]} == {"bought_together"}


@pytest.mark.usefixtures("isolated_serving")
def test_every_recommended_card_links_to_its_product_and_posts_to_the_events_api(client):
    store = store_build()
    store_train()
    client.force_login(buyer(store.product(0, 0)))

    content = client.get(store.product(4, 0).get_absolute_url()).content.decode()

    cards = re.findall(
        r'data-rec-item="(\d+)".*?<a class="card-link" href="([^"]+)"', content, re.S
    )
    assert len(cards) >= 3
    products = {str(p.pk): p for p in Product.objects.all()}
    for pk, href in cards:
        assert href == products[pk].get_absolute_url()
    events = reverse("recommendations:events")
    assert content.count(f'data-rec-events="{events}"') == len(_blocks(content))
