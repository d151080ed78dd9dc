"""An Oscar shop filled through Oscar's models: categories, stock, shoppers and their orders.

Run with this folder's settings and no conftest above it (see run.sh)::

    pytest tests/oscar --ds=tests.oscar.settings --confcutdir=tests/oscar
"""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.utils import timezone

from recommendations import serving
from recommendations.services import training_run_start
from tests.oscar.store import (
    BOUGHT_EACH,
    CATEGORIES,
    PER_CATEGORY,
    SHOPPERS,
    Category,
    Partner,
    Product,
    ProductClass,
    Shop,
    order_place,
    product_create,
)


@pytest.fixture(autouse=True)
def isolated_serving(settings, tmp_path):
    """Artifacts under ``tmp_path``, an empty cache, no model loaded before or after."""
    settings.MEDIA_ROOT = tmp_path
    cache.clear()
    serving.process_state.reset(lists_only=True)
    serving.reset()
    yield
    serving.reset()
    serving.process_state.reset(lists_only=True)


@pytest.fixture
def shop(db) -> Shop:
    """Shoppers who each prefer one or two categories and bought from them; a trained model."""
    rng = random.Random(7)
    partner = Partner.objects.create(name="Warehouse")
    books = ProductClass.objects.create(name="Book", track_stock=True)
    products: dict[str, list[Product]] = {}
    for name in CATEGORIES:
        category = Category.add_root(name=name, slug=name.lower())
        products[name] = [
            product_create(
                title=f"{name} {i}",
                category=category,
                product_class=books,
                partner=partner,
                stock=5,
            )
            for i in range(PER_CATEGORY)
        ]
    User = get_user_model()
    preferences: dict[int, list[str]] = {}
    bought: dict[int, set[int]] = {}
    start = timezone.now() - dt.timedelta(days=60)
    for i in range(SHOPPERS):
        user = User.objects.create_user(
            username=f"shopper{i}", email=f"shopper{i}@example.com", password="x"
        )
        liked = rng.sample(CATEGORIES, 1 if i % 4 else 2)
        pool = [p for name in liked for p in products[name]]
        chosen = rng.sample(pool, BOUGHT_EACH)
        # Two orders each, weeks apart, so the holdout has purchases to score.
        for n, part in enumerate((chosen[:3], chosen[3:])):
            order_place(
                user=user,
                products=part,
                number=f"{i:03d}-{n}",
                placed=start + dt.timedelta(days=rng.randrange(50), hours=n),
            )
        preferences[user.pk] = liked
        bought[user.pk] = {p.pk for p in chosen}
    run = training_run_start(promote=True)
    assert run.is_active, run.error
    serving.reset()
    return Shop(products=products, preferences=preferences, bought=bought)
