"""Template context shared by every storefront page."""

from __future__ import annotations

from django.http import HttpRequest

from shop.cart import Cart


def cart(request: HttpRequest) -> dict[str, int]:
    """The number of items in the cart, for the header."""
    if not hasattr(request, "session"):
        return {"cart_count": 0}
    return {"cart_count": Cart.of(request).count}
