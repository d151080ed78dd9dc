"""The ``RECOMMENDATIONS`` setting of a django-oscar shop.

Imports nothing from Oscar or Django's models, so a settings module can use it::

    from recommendations.contrib.oscar.settings import recommendations_settings

    RECOMMENDATIONS = recommendations_settings(MAX_PER_CATEGORY=2)
"""

from __future__ import annotations

import copy
from typing import Any

_PRESET: dict[str, Any] = {
    "ADAPTER": "recommendations.contrib.oscar.adapters.OscarAdapter",
    "CATALOG": {
        "MODEL": "catalogue.Product",
        # The adapter reads the primary (first browsable) category of this many-to-many,
        # named by its own name (Category's str() is the whole path).
        "CATEGORY_FIELD": "categories",
        "CATEGORY_LABEL_FIELD": "name",
        "LABEL_FIELD": "title",
        # The adapter reads the first stock record's price (a parent: its first child's).
        "PRICE_FIELD": "stockrecords__price",
        "TEXT_FIELDS": ["title", "description"],
    },
    "CONSENT_FIELD": None,
    "EVENT_SOURCES": [
        {
            "NAME": "purchase",
            "MODEL": "order.Line",
            "USER_FIELD": "order__user",
            "ITEM_FIELD": "product",
            "TIME_FIELD": "order__date_placed",
            "WEIGHT": 1.0,
            "GROUP_FIELD": "order",
        },
        {
            # Oscar records a signed-in shopper's product page views itself.
            "NAME": "view",
            "MODEL": "analytics.UserProductView",
            "USER_FIELD": "user",
            "ITEM_FIELD": "product",
            "TIME_FIELD": "date_created",
            "WEIGHT": 0.2,
        },
        {
            "NAME": "review",
            "VERB": "reviewed",
            "MODEL": "reviews.ProductReview",
            "USER_FIELD": "user",
            "ITEM_FIELD": "product",
            "TIME_FIELD": "date_created",
            "VALUE_FIELD": "score",
            # Oscar's scores run 0-5; a low score is a dislike.
            "VALUE_MAP": {"0": -1.0, "1": -1.0, "2": -0.5, "3": 0.0, "4": 0.5, "5": 1.0},
            "FILTER": {"status": 1},  # AbstractProductReview.APPROVED
        },
    ],
}


def recommendations_settings(**overrides: Any) -> dict[str, Any]:
    """The preset for Oscar's models, with ``overrides`` replacing its top-level keys."""
    return {**copy.deepcopy(_PRESET), **overrides}


RECOMMENDATIONS = recommendations_settings()
