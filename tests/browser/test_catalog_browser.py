"""A new visitor and a returning customer walk the demo store in a real browser.

The catalogue is a slice of the real one (names as the importer writes them, categories
from the taxonomy); screenshots of every step go to test-artifacts/.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from django.utils.text import slugify

from shop.importer import product_name_format
from shop.taxonomy import category_for_text
from tests.factories import (
    CategoryFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    UserFactory,
)
from tests.recommendations.store import store_train

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("isolated_serving"),
]

DESCRIPTIONS = [
    "WHITE HANGING HEART T-LIGHT HOLDER",
    "RED HANGING HEART T-LIGHT HOLDER",
    "HAND WARMER UNION JACK",
    "HAND WARMER RED LOVE HEART",
    "HAND WARMER BIRD DESIGN",
    "RED RETROSPOT LUNCH BAG",
    "JUMBO BAG PINK POLKADOT",
    "PINK POLKADOT CUP",
    "BLUE BIRD NECKLACE",
    "VINTAGE UNION JACK CUSHION COVER",
    "SWEETHEART CAKESTAND 3 TIER",
    "WHITE METAL LANTERN",
    "CAMOUFLAGE LED TORCH",
    "SPACEBOY BIRTHDAY CARD",
    "CHRISTMAS CANDLE",
    "GREEN FERN SKETCHBOOK",
]
CUSTOMER_NUMBER = "17850"


@pytest.fixture
def catalog(settings):
    """The products, a week of orders that make them known, a trained recommender."""
    settings.DEMO_LOGIN_ENABLED = True
    products = []
    for index, description in enumerate(DESCRIPTIONS):
        category = category_for_text(description)
        products.append(
            ProductFactory(
                sku=f"2{index:04d}",
                name=product_name_format(description),
                description=f"From the {category.lower()} range.",
                category=CategoryFactory(name=category, slug=slugify(category)),
            )
        )
    now = timezone.now()
    # Neighbours are bought together; earlier products are bought more.
    for index, product in enumerate(products):
        for buyer in range(len(products) - index):
            order = OrderFactory(
                user=UserFactory(username=f"buyer{index}-{buyer}"),
                created_at=now - dt.timedelta(days=buyer % 7),
            )
            OrderLineFactory(order=order, product=product)
            OrderLineFactory(order=order, product=products[(index + 1) % len(products)])
    customer = UserFactory(
        username=f"customer-{CUSTOMER_NUMBER}", profile__external_id=CUSTOMER_NUMBER
    )
    # The returning customer bought the white heart holder and a hand warmer.
    order = OrderFactory(user=customer, created_at=now - dt.timedelta(days=3))
    OrderLineFactory(order=order, product=products[0])
    OrderLineFactory(order=order, product=products[2])
    store_train()
    return products


def test_new_visitor_browses_home_searches_with_a_typo_and_opens_a_category_and_product(
    live_server, page, screenshot, catalog
):
    page.goto(f"{live_server.url}/")

    assert page.locator("[data-rec-block=for_you]").count() == 0
    trending = page.locator("[data-rec-block=trending] .card-title").all_inner_texts()
    assert trending
    assert len(trending) == len(set(trending))
    tiles = page.locator(".category-tiles a").all_inner_texts()
    assert any(tile.startswith("Accessories") for tile in tiles)
    # Every picture loads: drawn SVGs, no letter tiles, no broken images.
    images = page.locator("img.thumb")
    assert images.count() >= len(trending)
    # Every picture loads and draws (waited for: the live server answers them one by one).
    page.wait_for_function("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
    screenshot("catalog-home-new-visitor")

    page.fill("#header-q", "hart")
    page.click(".header-search button")
    page.wait_for_url("**/search/?q=hart")
    assert "Showing results for heart" in page.locator(".search-note").inner_text()
    titles = page.locator(".card-title").all_inner_texts()
    assert titles and all("Heart" in title for title in titles[:2])
    screenshot("catalog-search-typo")

    page.click("text=White Hanging Heart T-Light Holder")
    page.wait_for_selector("h1")
    page.click(".breadcrumbs a >> nth=1")
    page.wait_for_url("**/category/**")
    assert page.locator("h1").inner_text() == "Candles & Lighting"
    screenshot("catalog-category")

    page.click("text=Camouflage LED Torch")
    page.wait_for_selector("h1")
    assert page.locator("h1").inner_text() == "Camouflage LED Torch"
    assert page.locator("img.thumb-large").evaluate("img => img.naturalWidth") > 0
    assert "Sign in" in page.locator(".review-refusal").inner_text()
    screenshot("catalog-product-new-visitor")


def test_returning_customer_signs_in_by_number_sees_reasons_and_reviews(
    live_server, page, screenshot, catalog
):
    page.goto(f"{live_server.url}/demo-login/")
    page.fill("input[name=customer_number]", CUSTOMER_NUMBER)
    page.click("form[action='/demo-login/'] button[type=submit]")
    page.wait_for_selector("text=Sign out")
    assert page.locator(".danger-zone .button-danger").inner_text() == "Delete my account"

    page.goto(f"{live_server.url}/")
    block = page.locator("[data-rec-block=for_you]")
    assert block.locator("h2").inner_text() == "Recommended for you"
    reasons = block.locator(".rec-item__reason").all_inner_texts()
    assert any(reason.startswith("Because you bought") for reason in reasons)
    assert block.locator("img.thumb").count() == len(reasons)
    # No product twice on the page: each block leaves out what the ones before it showed.
    shown = page.locator("[data-rec-block] .rec-item").evaluate_all(
        "items => items.map(item => item.dataset.recItem)"
    )
    assert len(shown) == len(set(shown))
    screenshot("catalog-home-returning-customer")

    page.goto(f"{live_server.url}{catalog[0].get_absolute_url()}")
    form = page.locator("form.review-form")
    # Five stars, no zero; the fourth lights the first four.
    assert form.locator("input[name=rating]").count() == 5
    form.locator("label[title='4 stars']").click()
    assert form.locator("input[name=rating]:checked").get_attribute("value") == "4"
    lit = form.locator(".stars-input label").evaluate_all(
        "labels => labels.map(label => getComputedStyle(label).color)"
    )
    assert len(set(lit[:4])) == 1 and lit[4] != lit[0]
    form.locator("input[name=title]").fill("Lovely light")
    screenshot("catalog-review-form")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("text=Thank you for your review.")
    assert "★★★★☆" in page.locator(".review .stars").first.inner_text()

    page.goto(f"{live_server.url}{catalog[5].get_absolute_url()}")
    assert page.locator(".review-refusal").inner_text() == (
        "You can review products you have bought."
    )
    screenshot("catalog-review-refused")
