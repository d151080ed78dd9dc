"""The product card the recommendation blocks show: the shop's card, kept by its instance."""

from __future__ import annotations

import re

import pytest
from django.template import Context, engines
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from shop.templatetags import shop_cards
from tests.factories import OrderLineFactory, ProductFactory

pytestmark = pytest.mark.django_db

CARD = "{% load shop_cards %}{% product_card product url %}"


@pytest.fixture
def renders(monkeypatch):
    """Every rendering of the card template, as the product rendered."""
    rendered = []

    def counting(product, url):
        rendered.append(product)
        return render_to_string(shop_cards.CARD_TEMPLATE, {"product": product, "product_url": url})

    monkeypatch.setattr(shop_cards, "_card", counting)
    return rendered


def _card(product, url=None):
    template = engines["django"].engine.from_string(CARD)
    return template.render(Context({"product": product, "url": url}))


def test_the_card_is_the_shops_card_of_the_product_and_link():
    product = ProductFactory(name="Red Heart Cushion", stock_quantity=0)

    card = _card(product, "/somewhere/")

    assert card == render_to_string(
        "shop/_product_card.html", {"product": product, "product_url": "/somewhere/"}
    )
    assert 'href="/somewhere/"' in card and "Red Heart Cushion" in card and "Sold out" in card
    unlinked = ProductFactory()
    assert f'href="{unlinked.get_absolute_url()}"' in _card(unlinked)


def test_an_instance_keeps_its_card_per_language_and_link(renders):
    product = ProductFactory()

    first, again = _card(product), _card(product)
    linked = _card(product, "/elsewhere/")
    with translation.override("de"):
        german = _card(product)

    assert first == again and len(renders) == 3
    assert 'href="/elsewhere/"' in linked
    assert "Auf Lager" in german and "Auf Lager" not in first
    # Another instance of the same product renders its own.
    _card(type(product).objects.get(pk=product.pk))
    assert len(renders) == 4


def test_cards_are_rendered_every_time_while_templates_are_edited(renders, monkeypatch):
    monkeypatch.setattr(engines["django"].engine, "debug", True)
    product = ProductFactory()

    _card(product)
    _card(product)

    assert len(renders) == 2


@pytest.mark.usefixtures("fresh_cache", "isolated_serving")
def test_the_cards_of_the_blocks_are_rendered_on_the_first_page_only(client, renders):
    products = ProductFactory.create_batch(6)
    for rank, product in enumerate(products):
        OrderLineFactory.create_batch(6 - rank, product=product)

    first = client.get(reverse("shop:home")).content.decode()
    shown = len(renders)
    again = client.get(reverse("shop:home")).content.decode()

    # The kept instances of the trending block brought their cards to the second page.
    assert shown >= 4 and len(renders) == shown
    assert _block(again, "trending") == _block(first, "trending")
    assert products[0].name in _block(again, "trending")


def _block(content, name):
    """The list of a block (its impression and CSRF tokens are new on every page)."""
    return re.search(rf'data-rec-block="{name}".*?(<ol.*?</ol>)', content, re.S).group(1)
