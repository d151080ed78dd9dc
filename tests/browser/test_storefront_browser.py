"""A shopper's whole visit in a real browser: sign in, search, product, cart, checkout."""

from __future__ import annotations

import pytest

from shop.models import Order
from tests.factories import ProductFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_shopper_signs_in_searches_and_checks_out(live_server, page, screenshot):
    shopper = UserFactory(username="ada")
    lantern = ProductFactory(name="White Metal Lantern", stock_quantity=5)
    ProductFactory(name="Red Retrospot Mug", stock_quantity=5)

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("form[action='/login/'] button[type=submit]")
    page.wait_for_selector("text=Sign out")

    page.fill("#header-q", "lantern")
    page.click(".header-search button")
    page.wait_for_url("**/search/?q=lantern")
    assert page.locator(".card-title").all_inner_texts() == ["White Metal Lantern"]

    page.click("text=White Metal Lantern")
    page.wait_for_url(f"**/product/{lantern.pk}/")
    assert page.locator("h1").inner_text().lower() == "white metal lantern"
    shot = screenshot("product-page")
    assert shot.stat().st_size > 10_000

    page.fill("#id_quantity", "2")
    page.click("form.add-to-cart button[type=submit]")
    page.goto(f"{live_server.url}/cart/")
    page.click("text=Check out")
    page.click("button:has-text('Place order')")
    page.wait_for_url("**/account/orders/*/")

    order = Order.objects.get(user=shopper)
    assert [(line.product_id, line.quantity) for line in order.lines.all()] == [(lantern.pk, 2)]
    lantern.refresh_from_db()
    assert lantern.stock_quantity == 3
    assert order.number in page.locator("h1").inner_text()
    screenshot("order-placed")
