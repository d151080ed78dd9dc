"""A signed-in customer meets the recommendations in a real browser, with their reasons."""

from __future__ import annotations

import pytest

from tests.factories import OrderFactory, OrderLineFactory, UserFactory
from tests.recommendations.store import store_build, store_train

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("isolated_serving"),
]


def test_customer_sees_reasons_on_the_home_page_and_similar_products(
    live_server, page, screenshot
):
    store = store_build()
    ada = UserFactory(username="ada")
    OrderLineFactory(order=OrderFactory(user=ada), product=store.product(0, 0))
    store_train()

    page.goto(f"{live_server.url}/login/")
    page.fill("input[name=username]", "ada")
    page.fill("input[name=password]", "correct-horse-battery")
    page.click("form[action='/login/'] button[type=submit]")
    page.wait_for_selector("text=Sign out")
    page.goto(f"{live_server.url}/")

    block = page.locator("[data-rec-block=for_you]")
    assert block.locator("h2").inner_text() == "Recommended for you"
    reasons = block.locator(".rec-item__reason").all_inner_texts()
    assert len(reasons) == 8
    assert "Because you bought A0" in reasons
    # The shop's own product card, price included, never the item already bought.
    assert block.locator(".card .price").first.inner_text().startswith("£")
    assert "A0" not in block.locator(".card-title").all_inner_texts()
    assert screenshot("home-recommendations").stat().st_size > 10_000

    explained = block.locator(".rec-item", has_text="Because you bought A0").first
    name = explained.locator(".card-title").inner_text()
    explained.locator("a.card-link").click()
    page.wait_for_selector("h1")
    assert page.locator("h1").inner_text().lower() == name.lower()

    similar = page.locator("[data-rec-block=similar]")
    assert similar.locator("h2").inner_text() == "Similar products"
    titles = similar.locator(".card-title").all_inner_texts()
    assert titles and name not in titles
    assert similar.locator(".rec-item__reason").first.inner_text() == (f"Similar to {name}")
    assert screenshot("product-similar").stat().st_size > 10_000
