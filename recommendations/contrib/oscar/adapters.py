"""The adapter of a django-oscar shop: Oscar's stock rule, categories, basket and history."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Exists, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from oscar.apps.customer.history import CustomerHistoryManager
from oscar.core.loading import get_model

from recommendations.adapters import MAX_SESSION_ITEMS, SettingsAdapter

Product = get_model("catalogue", "Product")
ProductCategory = get_model("catalogue", "ProductCategory")
StockRecord = get_model("partner", "StockRecord")
UserProductView = get_model("analytics", "UserProductView")


def _sellable_stock() -> models.QuerySet:
    """Stock records a shopper can buy from: net stock left, or a class that tracks none."""
    return StockRecord._default_manager.annotate(
        net_stock=Coalesce("num_in_stock", 0) - Coalesce("num_allocated", 0)
    ).filter(
        # A child's product class is its parent's (Product.get_product_class).
        Q(net_stock__gt=0)
        | Q(product__product_class__track_stock=False)
        | Q(product__parent__product_class__track_stock=False)
    )


def _primary_category(product: str = "pk") -> Subquery:
    """The key of the first browsable category of ``product``, as Oscar's breadcrumbs show it."""
    return Subquery(
        ProductCategory._default_manager.filter(
            product=OuterRef(product),
            category__is_public=True,
            category__ancestors_are_public=True,
        )
        .order_by("category__path")
        .values("category")[:1]
    )


class OscarAdapter(SettingsAdapter):
    """Reads an Oscar catalogue, basket and recently-viewed cookie.

    Items are the products a shopper can browse to (standalone and parent products).
    A standalone product is available when public with a stock record to sell from;
    a parent when public with a public child that is.
    """

    # -- catalog -------------------------------------------------------------------

    def available_items(self) -> models.QuerySet:
        """Public, browsable products with sellable stock, their primary category annotated."""
        stock = _sellable_stock()
        return (
            super()
            .available_items()
            .filter(is_public=True, parent__isnull=True)
            .filter(
                Exists(stock.filter(product=OuterRef("pk")))
                | Exists(stock.filter(product__parent=OuterRef("pk"), product__is_public=True))
            )
        )

    def category_expression(self) -> models.Expression:
        """Key of the primary category of the outer product (a child's is its parent's)."""
        return Coalesce(_primary_category(), _primary_category("parent_id"))

    def price_expression(self) -> models.Expression:
        """The price of the product's first stock record (a parent: its first child's)."""
        return Subquery(
            StockRecord._default_manager.filter(
                Q(product=OuterRef("pk")) | Q(product__parent=OuterRef("pk"))
            )
            .order_by("pk")
            .values("price")[:1]
        )

    def item_label(self, item: models.Model) -> str:
        """The product's title (a child without one: its parent's)."""
        return item.get_title()

    # -- the shopper's session ---------------------------------------------------------

    def cart_item_pks(self, request: HttpRequest) -> list[Any]:
        """The products of Oscar's basket (``request.basket``), with a child's parent."""
        basket = getattr(request, "basket", None)
        if basket is None:
            return []
        pks: list[Any] = []
        for line in basket.all_lines():
            pks += [pk for pk in (line.product_id, line.product.parent_id) if pk is not None]
        return list(dict.fromkeys(pks))

    def session_item_pks(self, request: HttpRequest) -> list[Any]:
        """Views of this session, then Oscar's recently-viewed cookie, newest first."""
        # The cookie lists the oldest first; it may hold anything a client sent.
        cookie = [
            pk for pk in reversed(CustomerHistoryManager.extract(request)) if isinstance(pk, int)
        ]
        viewed = [*super().session_item_pks(request), *cookie]
        unique: dict[str, Any] = {}
        for pk in viewed:
            unique.setdefault(str(pk), pk)
        return list(unique.values())[:MAX_SESSION_ITEMS]

    def record_view(self, user: Any, session_key: str, item_pk: Any) -> None:
        """A signed-in shopper's view becomes Oscar's ``analytics.UserProductView``."""
        if user is not None and user.is_authenticated:
            UserProductView._default_manager.create(user=user, product_id=item_pk)
