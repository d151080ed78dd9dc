"""Template context shared by every storefront page."""

from __future__ import annotations

from django.http import HttpRequest


def cart(request: HttpRequest) -> dict[str, int]:
    """The number of items in the session cart, for the header."""
    items = request.session.get("cart", {}) if hasattr(request, "session") else {}
    return {"cart_count": sum(int(q) for q in items.values())}
