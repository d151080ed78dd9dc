"""What a new visitor and a returning customer see: home blocks, pictures, reviews, account."""

from __future__ import annotations

import re
from xml.dom import minidom

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

import shop.models
from shop.product_images import product_image_svg
from tests.factories import (
    CategoryFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fresh_cache")]


def block_items(content: str, block: str) -> list[str]:
    """Product keys listed by one recommendation block of a page."""
    match = re.search(rf'data-rec-block="{block}".*?</section>', content, re.S)
    return re.findall(r'data-rec-item="(\d+)"', match.group(0)) if match else []


@pytest.fixture
def shop_with_sales():
    products = ProductFactory.create_batch(12)
    for rank, product in enumerate(products):
        OrderLineFactory.create_batch(12 - rank, product=product)
    return products


def test_anonymous_home_has_trending_and_categories_but_no_personal_block(client, shop_with_sales):
    response = client.get(reverse("shop:home"))

    content = response.content.decode()
    assert response.status_code == 200
    assert block_items(content, "trending")
    assert 'data-rec-block="for_you"' not in content
    assert "Recommended for you" not in content
    assert 'id="categories"' in content


def test_customer_with_orders_gets_a_personal_block_and_no_product_twice(
    client, user, shop_with_sales
):
    OrderLineFactory(order=OrderFactory(user=user), product=shop_with_sales[0])
    client.force_login(user)

    content = client.get(reverse("shop:home")).content.decode()

    for_you, trending = block_items(content, "for_you"), block_items(content, "trending")
    assert for_you and trending
    shown = for_you + trending
    assert len(shown) == len(set(shown))


def test_signed_in_customer_without_history_gets_no_personal_block(user_client, shop_with_sales):
    content = user_client.get(reverse("shop:home")).content.decode()

    assert 'data-rec-block="for_you"' not in content


def test_product_picture_is_a_cached_svg_revalidated_by_etag(client):
    product = ProductFactory(name="White Hanging Heart T-Light Holder")
    url = reverse("shop:product_image", args=[product.pk])

    first = client.get(url)
    again = client.get(url, headers={"if-none-match": first["ETag"]})
    product.name = "Red Hanging Heart T-Light Holder"
    product.save()
    renamed = client.get(url, headers={"if-none-match": first["ETag"]})

    assert first.status_code == 200
    assert first["Content-Type"] == "image/svg+xml"
    assert "max-age=86400" in first["Cache-Control"] and "public" in first["Cache-Control"]
    minidom.parseString(first.content)  # well-formed
    assert again.status_code == 304
    assert renamed.status_code == 200
    assert renamed["ETag"] != first["ETag"]


def test_picture_of_an_unknown_product_is_404(client):
    assert client.get(reverse("shop:product_image", args=[999_999])).status_code == 404


def test_pictures_follow_the_colours_and_motifs_of_the_description():
    red_heart = product_image_svg(name="Red Heart Cushion", category="Textiles & Bathroom")
    blue_heart = product_image_svg(name="Blue Heart Cushion", category="Textiles & Bathroom")
    flag = product_image_svg(name="Vintage Union Jack Cushion Cover", category="Home Decor")
    dotty = product_image_svg(name="Red Retrospot Lunch Bag", category="Bags & Purses")
    holder = product_image_svg(
        name="White Hanging Heart T-Light Holder", category="Candles & Lighting"
    )

    assert "#d2423c" in red_heart and "#3f76c0" not in red_heart
    assert "#3f76c0" in blue_heart
    # The same object with the same motif: only the colours differ.
    assert red_heart.replace("#d2423c", "") != blue_heart.replace("#3f76c0", "")
    assert red_heart.count("<path") == blue_heart.count("<path")
    assert "#28406e" in flag and "#a0702a" in flag  # the flag's navy, vintage warmth
    assert "<pattern" in dotty
    assert "#fbfaf7" in holder and "#f2a93b" in holder  # white holder, a lit flame
    for svg in (red_heart, flag, dotty, holder):
        minidom.parseString(svg)


def test_cards_and_product_page_show_the_picture_and_keep_acronyms(client):
    category = CategoryFactory(name="Candles & Lighting", slug="candles-lighting")
    torch = ProductFactory(name="Camouflage LED Torch", category=category)
    image = reverse("shop:product_image", args=[torch.pk])

    listing = client.get(category.get_absolute_url()).content.decode()
    page = client.get(torch.get_absolute_url()).content.decode()

    assert f'src="{image}"' in listing and f'src="{image}"' in page
    assert "Camouflage LED Torch" in listing and "Camouflage LED Torch" in page
    assert "Led" not in listing and "Led" not in page


def test_a_product_reverses_its_picture_url_once(monkeypatch):
    # The recommendations app keeps the instances its cards show for the process: a
    # card of a kept instance costs no URL lookup.
    product = ProductFactory()
    looked_up = []
    monkeypatch.setattr(
        shop.models,
        "reverse",
        lambda *args, **kwargs: looked_up.append(args) or reverse(*args, **kwargs),
    )

    urls = {product.image_url, product.image_url}

    assert urls == {reverse("shop:product_image", args=[product.pk])}
    assert len(looked_up) == 1


def test_review_form_offers_one_to_five_stars_as_radio_buttons(client, user):
    product = ProductFactory()
    OrderLineFactory(order=OrderFactory(user=user), product=product)
    client.force_login(user)

    content = client.get(product.get_absolute_url()).content.decode()

    values = re.findall(r'<input type="radio" name="rating" value="(\d)"', content)
    assert values == ["1", "2", "3", "4", "5"]
    assert "<legend>Rating</legend>" in content
    assert "1 star" in content and "5 stars" in content


@pytest.mark.parametrize("rating", ["0", "6", "", "three"])
def test_a_rating_outside_one_to_five_is_a_field_error(client, user, rating):
    product = ProductFactory()
    OrderLineFactory(order=OrderFactory(user=user), product=product)
    client.force_login(user)

    response = client.post(
        reverse("shop:review_create", args=[product.pk]), {"rating": rating, "title": "Hm"}
    )

    assert response.status_code == 400
    assert response.context["review_form"].errors["rating"] == [
        "Choose a rating from 1 to 5 stars."
    ]


def test_a_customer_who_did_not_buy_is_told_why_there_is_no_review_form(user_client):
    product = ProductFactory()

    content = user_client.get(product.get_absolute_url()).content.decode()

    assert "You can review products you have bought." in content
    assert "Write a review" not in content


def test_account_deletion_is_styled_as_dangerous(user_client):
    account = user_client.get(reverse("shop:account")).content.decode()
    confirm = user_client.get(reverse("shop:account_delete")).content.decode()

    assert 'class="button button-danger" href="/account/delete/"' in account
    assert '<button class="button-danger" type="submit">Delete my account</button>' in confirm


def test_every_page_links_a_favicon_that_exists(client):
    content = client.get(reverse("shop:home")).content.decode()

    assert '<link rel="icon" href="/static/shop/favicon.svg" type="image/svg+xml">' in content
    assert finders.find("shop/favicon.svg")
