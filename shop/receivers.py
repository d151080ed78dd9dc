"""The storefront's receivers of other apps' signals, connected in ``ShopConfig.ready()``."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.http import HttpRequest

from shop.cart import Cart


def cart_follows_session(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    """A sign-in gave the session a new key: the open cart is the new session's."""
    if request is not None and hasattr(request, "session"):
        Cart.of(request).session_moved()


def receivers_connect() -> None:
    """Connect the receivers above (once: each has a ``dispatch_uid``)."""
    user_logged_in.connect(cart_follows_session, dispatch_uid="shop-cart-follows-session")
