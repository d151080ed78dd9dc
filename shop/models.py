"""The demo store's catalog, customers, carts, orders, views, reviews and follows."""

from __future__ import annotations

import secrets
from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property


class Category(models.Model):
    name = models.CharField(max_length=120, unique=True)
    slug = models.SlugField(max_length=140, unique=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("shop:category", args=[self.slug])


class ProductQuerySet(models.QuerySet):
    def available(self) -> ProductQuerySet:
        """Products a shopper may buy: active and in stock."""
        return self.filter(is_active=True, stock_quantity__gt=0)


class Product(models.Model):
    sku = models.CharField("SKU", max_length=32, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    price = models.DecimalField(
        max_digits=10, decimal_places=2, validators=[MinValueValidator(Decimal("0.00"))]
    )
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="products", null=True, blank=True
    )
    stock_quantity = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["is_active", "category"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="shop_product_price_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"

    def get_absolute_url(self) -> str:
        return reverse("shop:product", args=[self.pk])

    @cached_property
    def image_url(self) -> str:
        """The URL of the product's drawn picture, reversed once per instance: the
        recommendations app keeps the instances its cards show for the process."""
        return reverse("shop:product_image", args=[self.pk])

    @property
    def is_available(self) -> bool:
        return self.is_active and self.stock_quantity > 0


def anonymous_display_name() -> str:
    """A public name that says nothing about the customer, until they choose one."""
    return f"Shopper {secrets.randbelow(900_000) + 100_000}"


class CustomerProfile(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile"
    )
    # The CustomerID of the imported data set; empty for customers who signed up.
    external_id = models.CharField(max_length=32, unique=True, null=True, blank=True)
    country = models.CharField(max_length=64, blank=True)
    birth_year = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1900), MaxValueValidator(2100)]
    )
    personalisation_consent = models.BooleanField(
        default=True,
        help_text="The customer agrees that their history is used to personalise the store.",
    )
    # The only thing of a customer other shoppers see (their profile page, reasons).
    display_name = models.CharField(max_length=40, default=anonymous_display_name)
    shares_activity = models.BooleanField(
        default=False,
        help_text=(
            "The customer's purchases and reviews are visible to the people who follow "
            "them, on their profile page and in recommendations, by their display name."
        ),
    )

    def __str__(self) -> str:
        return f"Profile of {self.user}"


class Order(models.Model):
    class Status(models.TextChoices):
        PLACED = "placed", "Placed"
        CANCELLED = "cancelled", "Cancelled"

    number = models.CharField(max_length=32, unique=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        related_name="orders",
        null=True,
        blank=True,
    )
    country = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PLACED)
    created_at = models.DateTimeField(default=timezone.now)
    # The cart's token when placed online: a second "Place order" of the same cart (a
    # double click, two tabs) finds this order instead of placing another.
    checkout_token = models.CharField(
        max_length=32, unique=True, null=True, blank=True, editable=False
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "created_at"])]

    def __str__(self) -> str:
        return f"Order {self.number}"

    @property
    def total(self) -> Decimal:
        return sum((line.line_total for line in self.lines.all()), Decimal("0.00"))


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="order_lines")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(max_digits=10, decimal_places=2)
    # Copied from the order so purchase events are read without a join.
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        indexes = [
            models.Index(fields=["product", "created_at"]),
            # The social reasons read what the people a shopper follows bought of the
            # listed items: their orders' lines are found in this index alone.
            models.Index(fields=["order", "product", "created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="shop_orderline_quantity_positive"
            )
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id} in {self.order_id}"

    @property
    def line_total(self) -> Decimal:
        return self.unit_price * self.quantity


class ProductView(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="product_views",
        null=True,
        blank=True,
    )
    session_key = models.CharField(max_length=40, blank=True, db_index=True)
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="views")
    viewed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-viewed_at"]
        indexes = [
            models.Index(fields=["user", "viewed_at"]),
            models.Index(fields=["product", "viewed_at"]),
        ]

    def __str__(self) -> str:
        return f"View of {self.product_id} at {self.viewed_at:%Y-%m-%d %H:%M}"


class Review(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="reviews"
    )
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="reviews")
    rating = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    title = models.CharField(max_length=120)
    text = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    is_approved = models.BooleanField(
        default=True, help_text="Unapproved reviews are hidden from the store."
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["user", "created_at"]),
            models.Index(fields=["product", "created_at"]),
        ]
        constraints = [
            models.UniqueConstraint(fields=["user", "product"], name="shop_review_one_per_user"),
            models.CheckConstraint(
                condition=models.Q(rating__gte=1, rating__lte=5),
                name="shop_review_rating_1_to_5",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rating}/5 for {self.product_id} by {self.user_id}"


class Follow(models.Model):
    """One shopper follows another: the followed shopper's taste counts for the follower."""

    follower = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="following"
    )
    followed = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="followers"
    )
    created_at = models.DateTimeField(default=timezone.now)
    # The synthetic graph of ``setup_demo --sample-social-graph``, kept apart from the
    # follows shoppers make so it can be told (and removed) at any time.
    is_sample = models.BooleanField(
        default=False,
        help_text="Synthetic: made by setup_demo --sample-social-graph, to try the feature.",
    )

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["follower", "followed"], name="shop_follow_once"),
            models.CheckConstraint(
                condition=~models.Q(follower=models.F("followed")), name="shop_follow_not_self"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.follower_id} follows {self.followed_id}"


class Cart(models.Model):
    """A shopper's cart, named by its token in their session.

    Its lines are rows of their own, so that adds made at the same moment (two tabs,
    several workers) all count: a cart kept in the session was written whole by each
    request, and the last one won.
    """

    # Random; also the order's ``checkout_token``, so a cart is placed once.
    token = models.CharField(max_length=32, unique=True, editable=False)
    # The session the cart was opened in: two first adds at once open one cart.
    session_key = models.CharField(max_length=40, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)
    # When it was placed as an order; a placed cart takes no more items.
    ordered_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["session_key"],
                condition=models.Q(ordered_at__isnull=True),
                name="shop_cart_one_open_per_session",
            ),
        ]
        indexes = [models.Index(fields=["updated_at"])]

    def __str__(self) -> str:
        return f"Cart {self.token[:8]}"


class CartItem(models.Model):
    """How many of a product are in a cart."""

    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField(validators=[MinValueValidator(1)])

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["cart", "product"], name="shop_cart_item_once"),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=1), name="shop_cart_item_quantity_positive"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"


class LoginAttempt(models.Model):
    """A sign-in attempt, counted against the account named or the address it came from
    (``key``) for ``LOGIN_ATTEMPTS_WINDOW`` seconds after it (``shop.login_attempts``)."""

    key = models.CharField(max_length=120)
    at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(fields=["key", "at"]),
            models.Index(fields=["at"]),
        ]

    def __str__(self) -> str:
        return f"{self.key} at {self.at:%Y-%m-%d %H:%M:%S}"
