"""The shopping cart, kept in the session as ``{product_pk: quantity}``.

Keeping it in the session means it works the same for anonymous and signed-in
shoppers, and Django's ``login()`` carries it over when the session key is cycled.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from shop.models import Product

SESSION_KEY = "cart"
TOKEN_SESSION_KEY = "cart_token"


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def line_total(self) -> Decimal:
        return self.product.price * self.quantity


class Cart:
    """A thin wrapper around the session dict; validation happens in ``add`` and ``set``."""

    def __init__(self, session: SessionBase) -> None:
        self.session = session

    def _data(self) -> dict[str, int]:
        # Session data is JSON, so product keys are stored as strings.
        return self.session.get(SESSION_KEY, {})

    def _save(self, data: dict[str, int]) -> None:
        self.session[SESSION_KEY] = data
        self.session.setdefault(TOKEN_SESSION_KEY, uuid.uuid4().hex)

    @property
    def token(self) -> str:
        """This cart's checkout token, made with its first item and dropped when it is
        emptied: two "Place order" requests of one cart carry the same token, so the
        second finds the order the first placed (``Order.checkout_token``)."""
        return self.session.setdefault(TOKEN_SESSION_KEY, uuid.uuid4().hex)

    def items(self) -> dict[int, int]:
        """The cart as ``{product_pk: quantity}``."""
        return {int(pk): int(quantity) for pk, quantity in self._data().items()}

    def quantity_of(self, product: Product) -> int:
        """How many of ``product`` are in the cart."""
        return int(self._data().get(str(product.pk), 0))

    @property
    def count(self) -> int:
        return sum(self.items().values())

    def add(self, product: Product, quantity: int) -> None:
        """Add ``quantity`` units, refusing unavailable products and more than the stock."""
        self.set(product, self.quantity_of(product) + quantity)

    def set(self, product: Product, quantity: int) -> None:
        """Set the quantity of ``product``; zero removes it."""
        if quantity < 0:
            raise ValidationError(_("The quantity cannot be negative."), code="negative")
        if quantity == 0:
            self.remove(product)
            return
        if not product.is_available:
            raise ValidationError(
                _("%(name)s is not available at the moment."),
                code="unavailable",
                params={"name": product.name},
            )
        if quantity > product.stock_quantity:
            raise ValidationError(
                _("Only %(stock)d of %(name)s in stock."),
                code="stock",
                params={"stock": product.stock_quantity, "name": product.name},
            )
        data = self._data()
        data[str(product.pk)] = quantity
        self._save(data)

    def remove(self, product: Product) -> None:
        """Take ``product`` out of the cart."""
        data = self._data()
        if data.pop(str(product.pk), None) is not None:
            self._save(data)

    def clear(self) -> None:
        """Empty the cart; the next one has a token of its own."""
        self.session.pop(SESSION_KEY, None)
        self.session.pop(TOKEN_SESSION_KEY, None)

    def lines(self) -> list[CartLine]:
        """The cart's products in one query; products deleted since are dropped."""
        items = self.items()
        products = Product.objects.select_related("category").in_bulk(list(items))
        if len(products) != len(items):
            self._save({str(pk): q for pk, q in items.items() if pk in products})
        return [
            CartLine(product=products[pk], quantity=quantity)
            for pk, quantity in items.items()
            if pk in products
        ]

    @staticmethod
    def total(lines: list[CartLine]) -> Decimal:
        """The sum of the line totals."""
        return sum((line.line_total for line in lines), Decimal("0.00"))
