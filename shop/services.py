"""Writes of the storefront: orders, reviews, product views, sign-ups and follows."""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from recommendations.privacy import user_cache_delete
from recommendations.services import availability_changed, catalog_changed
from shop import selectors, taxonomy
from shop.cart import Cart
from shop.models import (
    Category,
    CustomerProfile,
    Follow,
    Order,
    OrderLine,
    Product,
    ProductView,
    Review,
)


class CheckoutError(ValidationError):
    """The cart cannot be ordered as it is; nothing was written."""


def _order_number() -> str:
    # Random rather than sequential so the number does not reveal the order volume;
    # "W" tells web orders apart from the imported invoice numbers.
    return "W" + uuid.uuid4().hex[:11].upper()


def checkout_create_order(
    *, user: AbstractBaseUser, items: dict[int, int], token: str | None = None
) -> tuple[Order, bool]:
    """Place an order for ``items`` ({product_pk: quantity}) and take the units from stock;
    return it and whether it is new.

    Everything happens in one transaction: product rows are locked (PostgreSQL;
    SQLite takes the write lock at BEGIN IMMEDIATE) and each stock decrement is a
    conditional UPDATE, so two checkouts of the last unit cannot both succeed. With
    the cart's ``token``, a cart already placed returns its order (False) instead of
    placing it twice. Raises CheckoutError, leaving the database unchanged, when a
    product is unavailable or short of stock.
    """
    if not items:
        raise CheckoutError("Your cart is empty.", code="empty")
    if any(quantity < 1 for quantity in items.values()):
        raise CheckoutError("Every quantity must be at least 1.", code="quantity")
    profile = selectors.profile_for_user(user=user)
    try:
        return _order_place(user, items, token, profile)
    except IntegrityError:  # the same cart placed by a request running beside this one
        placed = _order_placed(user, token)
        if placed is None:
            raise
        return placed, False


def checkout_place_cart(*, user: AbstractBaseUser, cart: Cart) -> tuple[Order, bool]:
    """Place the session's ``cart`` as an order (:func:`checkout_create_order`) and close
    it, in one transaction under the cart's lock: an add made meanwhile waits, then goes
    into the session's next cart. A cart placed before finds its order (False)."""
    with transaction.atomic():
        items = cart.items(placed_too=True, lock=True)
        order, placed = checkout_create_order(user=user, items=items, token=cart.token)
        cart.placed()
    return order, placed


def _order_placed(user: AbstractBaseUser, token: str | None) -> Order | None:
    """The order already placed from the cart of ``token``, if any."""
    return Order.objects.filter(checkout_token=token, user=user).first() if token else None


def _order_place(
    user: AbstractBaseUser, items: dict[int, int], token: str | None, profile: Any
) -> tuple[Order, bool]:
    """The checkout's transaction (see :func:`checkout_create_order`)."""
    with transaction.atomic():
        # Locking in primary-key order keeps concurrent checkouts from deadlocking.
        products = {
            product.pk: product
            for product in Product.objects.select_for_update().filter(pk__in=items).order_by("pk")
        }
        # After the locks: a checkout of the same cart that held them has committed.
        if placed := _order_placed(user, token):
            return placed, False
        for pk, quantity in sorted(items.items()):
            product = products.get(pk)
            if product is None or not product.is_active:
                raise CheckoutError(
                    "A product in your cart is no longer sold.", code="unavailable"
                )
            if product.stock_quantity == 0:
                raise CheckoutError(
                    "%(name)s is sold out.", code="stock", params={"name": product.name}
                )
            if quantity > product.stock_quantity:
                raise CheckoutError(
                    "Only %(stock)d of %(name)s left in stock.",
                    code="stock",
                    params={"stock": product.stock_quantity, "name": product.name},
                )
        now = timezone.now()
        order = Order.objects.create(
            number=_order_number(),
            user=user,
            country=profile.country if profile else "",
            created_at=now,
            checkout_token=token or None,
        )
        lines = []
        for pk, quantity in sorted(items.items()):
            product = products[pk]
            taken = Product.objects.filter(pk=pk, stock_quantity__gte=quantity).update(
                stock_quantity=F("stock_quantity") - quantity
            )
            if taken != 1:
                # Raising inside atomic() rolls back the order and earlier decrements.
                raise CheckoutError(
                    "%(name)s sold out while you were checking out.",
                    code="stock",
                    params={"name": product.name},
                )
            lines.append(
                OrderLine(
                    order=order,
                    product=product,
                    quantity=quantity,
                    unit_price=product.price,
                    created_at=now,
                )
            )
        OrderLine.objects.bulk_create(lines)
        # bulk_create sends no signals, so the buyer's cached history would still say
        # they never bought these items: drop it, and their cached lists, once committed.
        user_pk = user.pk
        transaction.on_commit(lambda: user_cache_delete(user_pk=user_pk))
        # Stock went down with update(), which sends no signal: an item may have sold
        # out, so cached recommendation lists must check availability again (only
        # availability: labels and prices are unchanged).
        transaction.on_commit(availability_changed)
    return order, True


def review_create(
    *,
    user: AbstractBaseUser,
    product: Product,
    rating: int,
    title: str,
    text: str = "",
) -> Review:
    """Create a review by a buyer of ``product``; raise ValidationError otherwise."""
    if not selectors.product_bought_by(user=user, product=product):
        raise ValidationError(
            _("Only customers who bought this product can review it."), code="not_buyer"
        )
    if Review.objects.filter(user=user, product=product).exists():
        raise ValidationError(_("You have already reviewed this product."), code="duplicate")
    review = Review(user=user, product=product, rating=rating, title=title, text=text)
    review.full_clean(exclude=["user", "product"], validate_unique=False)
    try:
        with transaction.atomic():
            review.save()
    except IntegrityError as exc:
        # A second submit raced past the check above; the unique constraint caught it.
        raise ValidationError(
            _("You have already reviewed this product."), code="duplicate"
        ) from exc
    return review


def product_view_record(
    *, product: Product, user: AbstractBaseUser | None, session_key: str
) -> ProductView:
    """Remember that a shopper looked at ``product``."""
    return ProductView.objects.create(
        product=product,
        user=user if user is not None and user.is_authenticated else None,
        session_key=session_key or "",
    )


def signup(
    *,
    username: str,
    email: str,
    password: str,
    country: str = "",
    birth_year: int | None = None,
    personalisation_consent: bool = False,
) -> AbstractBaseUser:
    """Create a customer account and its profile together; ValidationError naming the
    username when another request took it since the form checked (a double click)."""
    users = get_user_model().objects
    try:
        with transaction.atomic():
            user = users.create_user(username=username, email=email, password=password)
            CustomerProfile.objects.create(
                user=user,
                country=country,
                birth_year=birth_year,
                personalisation_consent=personalisation_consent,
            )
    except IntegrityError:
        # The username is the only unique value written (the profile's user is new).
        message = _("A user with that username already exists.")
        raise ValidationError({"username": message}, code="unique") from None
    return user


def follow_create(*, follower: AbstractBaseUser, followed: AbstractBaseUser) -> Follow:
    """``follower`` follows ``followed`` (again: nothing changes); never themself."""
    if follower.pk == followed.pk:
        raise ValidationError("You cannot follow yourself.", code="self")
    follow, _ = Follow.objects.get_or_create(follower=follower, followed=followed)
    return follow


def follow_delete(*, follower: AbstractBaseUser, followed: AbstractBaseUser) -> bool:
    """Stop following; whether there was a follow to undo.

    Deleted row by row (not in bulk), so the recommendations app hears of it and the
    follower's lists are computed afresh.
    """
    follows = list(Follow.objects.filter(follower=follower, followed=followed))
    for follow in follows:
        follow.delete()
    return bool(follows)


def profile_sharing_set(
    *, user: AbstractBaseUser, shares_activity: bool, display_name: str
) -> CustomerProfile:
    """Set the public name and whether followers see the customer's purchases and reviews.

    Saved with ``save()`` so the recommendations app hears of it: the lists of everyone
    following the customer stop (or start) naming them at once.
    """
    profile, _ = CustomerProfile.objects.get_or_create(user=user)
    profile.shares_activity = shares_activity
    profile.display_name = display_name
    profile.save(update_fields=["shares_activity", "display_name"])
    return profile


def profile_consent_set(*, user: AbstractBaseUser, consent: bool) -> CustomerProfile:
    """Record whether ``user`` allows their history to personalise the store."""
    profile, _ = CustomerProfile.objects.update_or_create(
        user=user, defaults={"personalisation_consent": consent}
    )
    return profile


@dataclass
class RecategoriseReport:
    """What ``products_recategorise`` changed."""

    products_moved: int = 0
    categories_created: int = 0
    categories_deleted: list[str] = field(default_factory=list)
    moves: Counter[tuple[str, str]] = field(default_factory=Counter)


def products_recategorise(*, dry_run: bool = False) -> RecategoriseReport:
    """Put every product in the category shop.taxonomy gives its name, in one transaction.

    The importer's generated descriptions name the category ("from the other range"),
    so they are rewritten with it; descriptions written by hand are left alone.
    Categories left empty that the taxonomy does not name are deleted.
    """
    report = RecategoriseReport()
    with transaction.atomic():
        categories = {category.name: category for category in Category.objects.all()}
        moved: list[Product] = []
        for product in Product.objects.select_related("category").order_by("pk"):
            wanted = taxonomy.category_for_text(product.name)
            current = product.category.name if product.category else ""
            if wanted == current:
                continue
            if wanted not in categories:
                categories[wanted] = Category.objects.create(name=wanted, slug=slugify(wanted))
                report.categories_created += 1
            generated = taxonomy.product_description(
                name=product.name, category=current, sku=product.sku
            )
            if product.description == generated:
                product.description = taxonomy.product_description(
                    name=product.name, category=wanted, sku=product.sku
                )
            product.category = categories[wanted]
            moved.append(product)
            report.moves[current, wanted] += 1
        Product.objects.bulk_update(moved, ["category", "description"], batch_size=500)
        report.products_moved = len(moved)
        empty = Category.objects.exclude(name__in=taxonomy.CATEGORIES).filter(products=None)
        report.categories_deleted = sorted(empty.values_list("name", flat=True))
        empty.delete()
        if dry_run:
            transaction.set_rollback(True)
        else:
            transaction.on_commit(catalog_changed)
    return report
