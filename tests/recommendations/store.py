"""A small, deterministic store for the serving tests (selectors, tags, API), and helpers.

Eight categories of five products. Every "pair" customer buys the first product of
category ``c`` together with the first product of category ``c + 1``, so an
item-to-item model learns that ``A0`` goes with ``B0``; busier customers buy the rest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.contrib.sessions.backends.db import SessionStore
from django.core.cache import cache
from django.http import HttpRequest
from django.template import Context, Template
from django.test import RequestFactory, override_settings
from django.utils import timezone

from recommendations import serving
from recommendations.models import TrainingRun
from recommendations.services import training_run_start
from tests.factories import (
    CategoryFactory,
    OrderFactory,
    OrderLineFactory,
    ProductFactory,
    UserFactory,
)

N_CATEGORIES = 8
PER_CATEGORY = 5


@dataclass
class Store:
    categories: list[Any]
    products: list[list[Any]]  # products[category][rank]

    def product(self, category: int, rank: int) -> Any:
        return self.products[category][rank]

    def all_products(self) -> list[Any]:
        return [p for row in self.products for p in row]


def store_build() -> Store:
    """Create the catalog and a purchase history with clear co-purchases."""
    categories = [
        CategoryFactory(name=f"Cat {chr(65 + c)}", slug=f"cat-{c}") for c in range(N_CATEGORIES)
    ]
    products = [
        [
            ProductFactory(name=f"{chr(65 + c)}{r}", sku=f"S{c}{r}", category=categories[c])
            for r in range(PER_CATEGORY)
        ]
        for c in range(N_CATEGORIES)
    ]
    now = timezone.now()
    for c in range(N_CATEGORIES):
        pair = (products[c][0], products[(c + 1) % N_CATEGORIES][0])
        for i in range(4):
            order = OrderFactory(
                user=UserFactory(username=f"pair{c}-{i}"), created_at=now - dt.timedelta(days=i)
            )
            for product in pair:
                OrderLineFactory(order=order, product=product)
    # Busy customers make every product known to the model, later ranks less popular.
    for r in range(PER_CATEGORY):
        for i in range(PER_CATEGORY - r):
            order = OrderFactory(
                user=UserFactory(username=f"busy{r}-{i}"), created_at=now - dt.timedelta(days=2)
            )
            for c in range(N_CATEGORIES):
                OrderLineFactory(order=order, product=products[c][r])
    return Store(categories=categories, products=products)


def store_train(algorithms: list[str] | None = None) -> TrainingRun:
    """Train and promote, then make this process load the new version.

    The similar block is trained as item-kNN, the co-purchase model this store's lists
    were written for (tests/recommendations/test_baskets.py covers the default blend).
    """
    behavioural = {**settings.RECOMMENDATIONS, "SIMILAR_ALGORITHM": "item_knn"}
    with override_settings(RECOMMENDATIONS=behavioural):
        run = training_run_start(algorithms=algorithms or ["item_knn"], promote=True)
    assert run.is_active, run.error
    serving.reset()
    return run


def buyer(*products: Any, username: str = "alice") -> Any:
    """A customer with one order of ``products``."""
    user = UserFactory(username=username)
    order = OrderFactory(user=user)
    for product in products:
        OrderLineFactory(order=order, product=product)
    return user


def item_names(recommendations: list[Any]) -> list[str]:
    """The names of the recommended items, in order."""
    return [r.item.name for r in recommendations]


def page_request(user: Any = None) -> HttpRequest:
    """A GET request of ``user`` (anonymous by default) with an empty session."""
    request = RequestFactory().get("/")
    request.user = user or AnonymousUser()
    request.session = SessionStore()
    return request


def tag_render(source: str, request: HttpRequest, **context: Any) -> str:
    """Render a template snippet with the recommendations tags loaded."""
    template = Template("{% load recommendations_tags %}" + source)
    return template.render(Context({"request": request, **context}))


def caches_clear() -> None:
    """Empty the cache and the lists this process served: the next lists are computed."""
    cache.clear()
    serving.process_state.reset(lists_only=True)


def cache_calls(monkeypatch: Any, methods: Iterable[str]) -> list[tuple[str, Any]]:
    """Every call the app makes to the cache's ``methods``, as (method, key or keys).

    A local-memory ``get_many`` calls ``get`` per key: those inner calls are not the
    app's and are not counted.
    """
    calls: list[tuple[str, Any]] = []
    inside: list[str] = []
    for method in methods:
        original = getattr(cache, method)

        def counting(
            key: Any, *args: Any, _method: str = method, _original: Any = original, **kwargs: Any
        ) -> Any:
            if not inside:
                calls.append((_method, key))
            inside.append(_method)
            try:
                return _original(key, *args, **kwargs)
            finally:
                inside.pop()

        monkeypatch.setattr(cache, method, counting)
    return calls
