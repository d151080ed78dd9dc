"""Reads of the storefront: catalog lists, product pages, reviews and order history."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.cache import cache
from django.db.models import Avg, Case, Count, DecimalField, F, Q, QuerySet, Sum, When
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext

from recommendations.selectors import CATALOG, popular_products
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
from shop.taxonomy import OTHER

DEMO_CUSTOMERS_CACHE_KEY = "shop:demo-customers"


def categories_list() -> QuerySet[Category]:
    """Categories holding active products, with their number; "Other" comes last."""
    return (
        Category.objects.annotate(
            product_count=Count("products", filter=Q(products__is_active=True))
        )
        .filter(product_count__gt=0)
        .order_by(Case(When(name=OTHER, then=1), default=0), "name")
    )


def products_active() -> QuerySet[Product]:
    """Products shown in lists: active ones, in or out of stock."""
    return Product.objects.filter(is_active=True).select_related("category")


def products_for_category(*, category: Category) -> QuerySet[Product]:
    """Active products of ``category``, by name."""
    return products_active().filter(category=category).order_by("name", "pk")


def products_popular(*, limit: int = 8) -> list[Product]:
    """The best sellers of the serving recommendations version (its popularity).

    From the version that serves, not from the orders directly: a trickle of new orders
    after a quiet stretch does not make one shopper's basket "popular", and promoting or
    rolling back a version changes this list with every other block.
    """
    # The catalog's top-up of a short list is not popular: "nothing is popular" says more.
    return [rec.item for rec in popular_products(n=limit) if rec.source != CATALOG]


def product_detail(*, pk: int) -> Product:
    """An active product, or 404."""
    return get_object_or_404(products_active(), pk=pk)


def product_reviews(*, product: Product) -> QuerySet[Review]:
    """Approved reviews of ``product``, newest first."""
    return (
        Review.objects.filter(product=product, is_approved=True)
        .select_related("user__profile")
        .order_by("-created_at", "-pk")
    )


def product_rating_summary(*, product: Product) -> dict[str, Any]:
    """Average rating and number of approved reviews of ``product``."""
    return Review.objects.filter(product=product, is_approved=True).aggregate(
        average=Avg("rating"), count=Count("pk")
    )


def product_bought_by(*, user: AbstractBaseUser | AnonymousUser, product: Product) -> bool:
    """Whether ``user`` has a placed order containing ``product``."""
    if not user.is_authenticated:
        return False
    return OrderLine.objects.filter(
        order__user=user, order__status=Order.Status.PLACED, product=product
    ).exists()


def review_refusal(*, user: AbstractBaseUser | AnonymousUser, product: Product) -> str:
    """Why ``user`` may not review ``product``, to show instead of the form; "" if they may."""
    if not user.is_authenticated:
        return gettext("Sign in to review products you have bought.")
    if not product_bought_by(user=user, product=product):
        return gettext("You can review products you have bought.")
    if Review.objects.filter(user=user, product=product).exists():
        return gettext("You have reviewed this product: thank you.")
    return ""


def shopper_has_history(
    *, user: AbstractBaseUser | AnonymousUser, session_key: str | None
) -> bool:
    """Whether the store knows anything of this shopper: a placed order or a viewed product."""
    if user.is_authenticated:
        return (
            OrderLine.objects.filter(order__user=user, order__status=Order.Status.PLACED).exists()
            or ProductView.objects.filter(user=user).exists()
        )
    return bool(session_key) and ProductView.objects.filter(session_key=session_key).exists()


def orders_for_user(*, user: AbstractBaseUser) -> QuerySet[Order]:
    """The orders of ``user``, newest first, with totals computed in the database."""
    return (
        Order.objects.filter(user=user)
        .annotate(
            total_amount=Sum(
                F("lines__quantity") * F("lines__unit_price"),
                output_field=DecimalField(max_digits=14, decimal_places=2),
            ),
            item_count=Sum("lines__quantity"),
        )
        .order_by("-created_at", "-pk")
    )


def order_for_user(*, user: AbstractBaseUser, number: str) -> Order:
    """One order of ``user`` with its lines, or 404 (also for other users' orders)."""
    return get_object_or_404(
        Order.objects.filter(user=user).prefetch_related("lines__product"), number=number
    )


def profile_for_user(*, user: AbstractBaseUser) -> CustomerProfile | None:
    """The profile of ``user``, if one exists."""
    return CustomerProfile.objects.filter(user=user).first()


def demo_customers_sample(*, limit: int = 5) -> list[dict[str, Any]]:
    """Imported customers with the most orders, to suggest on the demo sign-in page."""
    cached = cache.get(DEMO_CUSTOMERS_CACHE_KEY)
    if cached is None:
        cached = list(
            CustomerProfile.objects.filter(external_id__isnull=False)
            .annotate(order_count=Count("user__orders"))
            .order_by("-order_count", "external_id")
            .values("external_id", "country", "order_count")[:limit]
        )
        cache.set(DEMO_CUSTOMERS_CACHE_KEY, cached, 600)
    return cached[:limit]


def demo_customer_user(*, number: str) -> AbstractBaseUser | None:
    """The active imported customer with CustomerID ``number``, or None."""
    return (
        get_user_model()
        .objects.filter(username=f"customer-{number}", profile__external_id=number, is_active=True)
        .first()
    )


def person_for_profile(*, pk: int) -> AbstractBaseUser:
    """The active shopper whose public profile is ``pk``, or 404 (staff have none)."""
    return get_object_or_404(
        get_user_model().objects.select_related("profile"),
        pk=pk,
        is_active=True,
        is_staff=False,
        profile__isnull=False,
    )


def follows(*, follower: AbstractBaseUser | AnonymousUser, followed: AbstractBaseUser) -> bool:
    """Whether ``follower`` (signed in) follows ``followed``."""
    return follower.is_authenticated and (
        Follow.objects.filter(follower=follower, followed=followed).exists()
    )


def followed_people(*, user: AbstractBaseUser) -> QuerySet[Follow]:
    """The follows of ``user``, newest first, with the followed shoppers' profiles."""
    return Follow.objects.filter(follower=user).select_related("followed__profile")


def shared_activity(
    *, person: AbstractBaseUser, viewer: AbstractBaseUser | AnonymousUser, limit: int = 20
) -> dict[str, Any] | None:
    """``person``'s recent purchases and approved reviews as their followers see them.

    None unless ``person`` shares their activity and ``viewer`` follows them (or is
    them): nobody else ever sees what a shopper bought or reviewed.
    """
    profile = getattr(person, "profile", None)
    own = viewer.is_authenticated and viewer.pk == person.pk
    if profile is None or not profile.shares_activity:
        return None
    if not own and not follows(follower=viewer, followed=person):
        return None
    bought = (
        OrderLine.objects.filter(order__user=person, order__status=Order.Status.PLACED)
        .select_related("product")
        .order_by("-created_at", "-pk")[:limit]
    )
    reviews = (
        Review.objects.filter(user=person, is_approved=True)
        .select_related("product")
        .order_by("-created_at", "-pk")[:limit]
    )
    products = list(dict.fromkeys(line.product for line in bought))
    return {"bought": products, "reviews": list(reviews)}
