"""factory_boy factories for every model the tests create."""

from __future__ import annotations

from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone

from shop import models


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"shopper{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct-horse-battery")

    @factory.post_generation
    def profile(self, create: bool, extracted, **kwargs) -> None:
        if create:
            models.CustomerProfile.objects.get_or_create(
                user=self, defaults={"country": "United Kingdom", **kwargs}
            )
            self.save()


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Category
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Product

    sku = factory.Sequence(lambda n: f"SKU{n:05d}")
    name = factory.Sequence(lambda n: f"Product {n}")
    description = "A fine product."
    price = Decimal("9.99")
    category = factory.SubFactory(CategoryFactory)
    stock_quantity = 10
    is_active = True


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Order

    number = factory.Sequence(lambda n: f"T{n:06d}")
    user = factory.SubFactory(UserFactory)
    country = "United Kingdom"
    created_at = factory.LazyFunction(timezone.now)


class OrderLineFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.OrderLine

    order = factory.SubFactory(OrderFactory)
    product = factory.SubFactory(ProductFactory)
    quantity = 1
    unit_price = factory.LazyAttribute(lambda line: line.product.price)
    created_at = factory.LazyAttribute(lambda line: line.order.created_at)


class ProductViewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.ProductView

    user = factory.SubFactory(UserFactory)
    product = factory.SubFactory(ProductFactory)


class ReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Review

    user = factory.SubFactory(UserFactory)
    product = factory.SubFactory(ProductFactory)
    rating = 4
    title = "Lovely"
    text = "Would buy again."


class FollowFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = models.Follow

    follower = factory.SubFactory(UserFactory)
    followed = factory.SubFactory(UserFactory)
