"""The shopping cart: rows of its own (:class:`shop.models.Cart`), named by a token in
the session.

The session holds the token only, so it works the same for anonymous and signed-in
shoppers and Django's ``login()`` carries it over when the session key is cycled, while
adds made at the same moment each change their own line under the cart's row lock
instead of writing the whole cart back to the session.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.contrib.sessions.backends.base import SessionBase
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext as _

from shop.models import Cart as CartRow
from shop.models import CartItem, Product
from shop.sessions import database_session_store

TOKEN_SESSION_KEY = "cart_token"
#: A placed cart stays this long, so that a second "Place order" finds its order.
PLACED_KEPT = timedelta(days=1)


@dataclass(frozen=True)
class CartLine:
    product: Product
    quantity: int

    @property
    def line_total(self) -> Decimal:
        return self.product.price * self.quantity


class Cart:
    """The session's cart; validation happens in ``add`` and ``set``."""

    def __init__(self, session: SessionBase) -> None:
        self.session = session
        self._items: dict[int, int] | None = None

    @classmethod
    def of(cls, request: HttpRequest) -> Cart:
        """The request's cart, one per request, so that the header, the blocks and the
        page read its items once."""
        request = getattr(request, "_request", request)  # DRF's Request wraps Django's
        cart = getattr(request, "_shop_cart", None)
        if cart is None:
            cart = request._shop_cart = cls(request.session)
        return cart

    def _row(self, *, lock: bool = False) -> CartRow | None:
        """The cart the session names, placed or not; None (and no query) without one.
        A token whose cart was cleared away is dropped."""
        token = self.session.get(TOKEN_SESSION_KEY)
        if not token:
            return None
        rows = CartRow.objects.select_for_update() if lock else CartRow.objects
        row = rows.filter(token=token).first()
        if row is None:
            del self.session[TOKEN_SESSION_KEY]
        return row

    def recover(self) -> None:
        """Name the session's open cart again if the session lost its token: a request
        running beside the one that opened it (or beside a checkout) saved the session
        as it read it. Costs a query, so only the cart's own pages and changes ask."""
        key = self.session.session_key
        if self.session.get(TOKEN_SESSION_KEY) or key is None:
            return
        token = (
            CartRow.objects.filter(session_key=key, ordered_at=None)
            .values_list("token", flat=True)
            .first()
        )
        if token:
            self.session[TOKEN_SESSION_KEY] = token
            self._items = None

    def session_moved(self) -> None:
        """The session's key changed (a sign-in): the open cart follows it."""
        token, key = self.session.get(TOKEN_SESSION_KEY), self.session.session_key
        if token and key:
            CartRow.objects.filter(token=token, ordered_at=None).update(session_key=key)

    def _open_row(self) -> CartRow:
        """The session's open cart, opened now if it has none (or only a placed one)."""
        self.recover()
        row = self._row()
        if row is not None and row.ordered_at is None:
            return row
        if self.session.session_key is None:
            self.session.save()
        row, _created = CartRow.objects.get_or_create(
            session_key=self.session.session_key,
            ordered_at=None,
            defaults={"token": uuid.uuid4().hex},
        )
        self.session[TOKEN_SESSION_KEY] = row.token
        return row

    @property
    def token(self) -> str | None:
        """This cart's checkout token (``Order.checkout_token``): two "Place order"
        requests of one cart carry the same token, so the second finds the order the
        first placed. None while the session has no cart."""
        return self.session.get(TOKEN_SESSION_KEY)

    def items(self, *, placed_too: bool = False, lock: bool = False) -> dict[int, int]:
        """The cart as ``{product_pk: quantity}``; a placed cart is empty unless
        ``placed_too`` (the checkout reads it to find its order). ``lock`` holds the
        cart's row until the transaction ends (changes of it wait)."""
        memo = not placed_too and not lock
        if memo and self._items is not None:
            return self._items
        token = self.session.get(TOKEN_SESSION_KEY)
        if not token:
            return {}
        if lock:
            self._row(lock=True)
        rows = CartItem.objects.filter(cart__token=token)
        if not placed_too:
            rows = rows.filter(cart__ordered_at=None)
        items = dict(rows.order_by("pk").values_list("product_id", "quantity"))
        if memo:
            self._items = items
        return items

    def quantity_of(self, product: Product) -> int:
        """How many of ``product`` are in the cart."""
        return self.items().get(product.pk, 0)

    @property
    def count(self) -> int:
        return sum(self.items().values())

    def add(self, product: Product, quantity: int) -> None:
        """Add ``quantity`` units, refusing unavailable products and more than the stock."""
        self._change(product, quantity, relative=True)

    def set(self, product: Product, quantity: int) -> None:
        """Set the quantity of ``product``; zero removes it."""
        self._change(product, quantity, relative=False)

    def _change(self, product: Product, quantity: int, *, relative: bool) -> None:
        if quantity < 0:
            raise ValidationError(_("The quantity cannot be negative."), code="negative")
        if quantity and not product.is_available:
            raise ValidationError(
                _("%(name)s is not available at the moment."),
                code="unavailable",
                params={"name": product.name},
            )
        if quantity > product.stock_quantity:
            raise _short_of_stock(product)
        self._items = None
        if not quantity and not relative:
            self.recover()
            row = self._row()
            if row is None or row.ordered_at is not None:
                return  # nothing to take out: no cart is opened for it
        # A cart placed (or cleared away) while this waited for its lock takes nothing
        # more: once more in the session's next cart.
        for _attempt in range(2):
            if self._change_open(self._open_row(), product, quantity, relative=relative):
                return
        raise ValidationError(_("Your cart changed meanwhile. Please try again."), code="busy")

    def _change_open(
        self, row: CartRow, product: Product, quantity: int, *, relative: bool
    ) -> bool:
        """Change one line of the open cart ``row``; False if it was placed meanwhile."""
        with transaction.atomic():
            # The cart's row lock orders the changes and the checkout of one cart
            # (SQLite: the write lock); the UPDATE reads ``ordered_at`` after waiting.
            if not CartRow.objects.filter(pk=row.pk, ordered_at=None).update(
                updated_at=timezone.now()
            ):
                return False
            item = CartItem.objects.filter(cart=row, product=product).first()
            total = quantity + (item.quantity if item and relative else 0)
            if total > product.stock_quantity:
                raise _short_of_stock(product)
            if not total:
                CartItem.objects.filter(cart=row, product=product).delete()
            elif item is None:
                CartItem.objects.create(cart=row, product=product, quantity=total)
            else:
                CartItem.objects.filter(pk=item.pk).update(quantity=total)
        return True

    def placed(self) -> None:
        """The cart became an order: it takes no more items, the session's next cart
        is a new one (with a token of its own)."""
        token = self.session.pop(TOKEN_SESSION_KEY, None)
        self._items = None
        if token:
            CartRow.objects.filter(token=token, ordered_at=None).update(ordered_at=timezone.now())

    def lines(self) -> list[CartLine]:
        """The cart's products in one query (deleted products have left it with their
        rows)."""
        items = self.items()
        products = Product.objects.select_related("category").in_bulk(list(items))
        return [
            CartLine(product=products[pk], quantity=quantity)
            for pk, quantity in items.items()
            if pk in products
        ]

    @staticmethod
    def total(lines: list[CartLine]) -> Decimal:
        """The sum of the line totals."""
        return sum((line.line_total for line in lines), Decimal("0.00"))


def _short_of_stock(product: Product) -> ValidationError:
    return ValidationError(
        _("Only %(stock)d of %(name)s in stock."),
        code="stock",
        params={"stock": product.stock_quantity, "name": product.name},
    )


def carts_clear(*, idle: timedelta, now: datetime | None = None, batch: int = 1000) -> int:
    """Delete the abandoned carts and the placed ones older than :data:`PLACED_KEPT`;
    return how many.

    A cart is abandoned when nobody changed it for ``idle`` and, with sessions kept in
    the database, no live session is its own (a session kept alive otherwise keeps its
    cart). The carts are chosen and deleted ``batch`` at a time, each batch in one
    transaction under their locks, skipping any a shopper is changing now.
    """
    now = now or timezone.now()
    abandoned = Q(updated_at__lt=now - idle, ordered_at=None)
    if (live := _live_session_keys(now)) is not None:
        abandoned &= ~Q(session_key__in=live)
    chosen = CartRow.objects.filter(abandoned | Q(ordered_at__lt=now - PLACED_KEPT))
    deleted = 0
    while True:
        with transaction.atomic():
            pks = list(
                chosen.select_for_update(skip_locked=True).values_list("pk", flat=True)[:batch]
            )
            if not pks:
                return deleted
            CartItem.objects.filter(cart__in=pks).delete()
            CartRow.objects.filter(pk__in=pks).delete()
        deleted += len(pks)


def _live_session_keys(now: datetime) -> QuerySet | None:
    """The keys of the unexpired sessions, if the session engine keeps them in the
    database (``db``, ``cached_db``); None otherwise."""
    store = database_session_store()
    if store is None:
        return None
    sessions = store.get_model_class()._default_manager
    return sessions.filter(expire_date__gt=now).values("session_key")


def carts_forget(*, session_keys: list[str], tokens: list[str]) -> int:
    """Delete the carts of these sessions or tokens (an account deleted with its
    sessions); return how many."""
    carts = CartRow.objects.filter(Q(session_key__in=session_keys) | Q(token__in=tokens))
    return carts.delete()[1].get(CartRow._meta.label, 0)
