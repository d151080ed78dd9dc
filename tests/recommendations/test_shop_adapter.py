"""The demo store's adapter: its cart and session views drive the storefront blocks."""

from __future__ import annotations

import re

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from recommendations import selectors
from recommendations.adapters import SettingsAdapter, get_adapter
from shop.models import ProductView
from shop.recommendations_adapter import ShopAdapter
from tests.factories import OrderFactory, OrderLineFactory, ProductViewFactory, UserFactory

pytestmark = pytest.mark.usefixtures("isolated_serving")


def _blocks(html: str) -> dict[str, list[str]]:
    """Item keys of each rendered recommendation block, by block name."""
    sections = re.findall(r'data-rec-block="(\w+)"(.*?)</section>', html, flags=re.S)
    return {name: re.findall(r'data-rec-item="(\d+)"', body) for name, body in sections}


def test_the_demo_store_is_configured_with_its_adapter():
    assert isinstance(get_adapter(), ShopAdapter)


def test_an_item_in_the_cart_never_appears_on_the_home_page(client, store):
    buyer = UserFactory()
    OrderLineFactory(order=OrderFactory(user=buyer), product=store.product(0, 0))
    client.force_login(buyer)
    # B0 is what A0's buyers bought too: first in the personal list without a cart.
    first = _blocks(client.get(reverse("shop:home")).content.decode())
    in_cart = store.product(1, 0)
    assert str(in_cart.pk) in first["for_you"]

    client.post(reverse("shop:cart_add", args=[in_cart.pk]), {"quantity": 1})
    blocks = _blocks(client.get(reverse("shop:home")).content.decode())

    assert {"for_you", "trending"} <= set(blocks)
    assert all(str(in_cart.pk) not in pks for pks in blocks.values())


def test_an_anonymous_visitors_views_drive_the_session_recommendations(client, store):
    viewed = store.product(2, 0)
    client.get(viewed.get_absolute_url())

    html = client.get(reverse("shop:home")).content.decode()
    blocks = _blocks(html)

    # C0 was bought with B0 and with D0: the view of C0 puts one of them first.
    assert blocks["for_you"][0] in {str(store.product(1, 0).pk), str(store.product(3, 0).pk)}
    assert "Because you viewed C0" in html
    assert str(viewed.pk) in blocks["recently_viewed"]


def test_a_view_posted_to_the_events_api_is_recorded_as_a_product_view(client, store):
    product = store.product(5, 1)

    response = client.post(
        reverse("recommendations:events"), {"kind": "view", "product": product.pk}
    )

    assert response.status_code == 202
    view = ProductView.objects.get(product=product)
    assert view.user is None
    assert view.session_key == client.session.session_key


def test_a_signed_in_shoppers_views_come_from_the_history_not_a_session_query(rf, store):
    shopper = UserFactory()
    request = rf.get("/")
    request.user = shopper
    request.session = SessionStore()
    request.session.save()
    ProductViewFactory(
        user=shopper, product=store.product(0, 1), session_key=request.session.session_key
    )

    with CaptureQueriesContext(connection) as queries:
        pks = get_adapter().session_item_pks(request)

    assert pks == []
    assert len(queries) == 0
    assert [r.item.pk for r in selectors.recently_viewed(user=shopper, n=1)] == [
        store.product(0, 1).pk
    ]


def test_the_default_adapter_hooks_do_nothing_without_a_host(rf):
    adapter = SettingsAdapter()
    request = rf.get("/")

    assert adapter.cart_item_pks(request) == []
    assert adapter.session_item_pks(request) == []
    assert adapter.record_view(None, "key", 1) is None
