"""How the demo store tells the recommendations app about its cart and product views.

Configured with ``RECOMMENDATIONS["ADAPTER"] = "shop.recommendations_adapter.ShopAdapter"``.
Everything else (catalog, events, features) comes from the setting.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from recommendations.adapters import SESSION_VIEWS_KEY, SettingsAdapter
from shop import services
from shop.cart import Cart
from shop.models import CustomerProfile, Product


class ShopAdapter(SettingsAdapter):
    """The settings adapter plus the shop's cart and session-keyed product views."""

    def cart_item_pks(self, request: HttpRequest) -> list[Any]:
        """The products in the cart."""
        return [] if getattr(request, "session", None) is None else list(Cart.of(request).items())

    def session_item_pks(self, request: HttpRequest) -> list[Any]:
        """Products viewed in this session, newest first (ProductView rows by session key).

        A signed-in customer's views are recorded with the user, so they are part of
        the history the app reads anyway: only anonymous sessions need the query.
        """
        if getattr(getattr(request, "user", None), "is_authenticated", False):
            session = getattr(request, "session", None)
            return [] if session is None else list(session.get(SESSION_VIEWS_KEY, []))
        return super().session_item_pks(request)

    def users_named(self, query: str) -> QuerySet:
        """The customer with this customer number (the data set's CustomerID)."""
        return get_user_model()._default_manager.filter(profile__external_id=query.strip())

    def users_by_reference(self, references: set[str]) -> dict[str, Any]:
        """Customer numbers (the data set's CustomerIDs) first, in one query; then
        usernames and user ids."""
        found = dict(
            CustomerProfile.objects.filter(external_id__in=references).values_list(
                "external_id", "user_id"
            )
        )
        return {**super().users_by_reference(references - found.keys()), **found}

    def record_view(self, user: Any, session_key: str, item_pk: Any) -> None:
        """Record a view posted to the events API as a ProductView, like a page visit."""
        product = Product.objects.filter(pk=item_pk).first()
        if product is None:
            return
        services.product_view_record(product=product, user=user, session_key=session_key)
