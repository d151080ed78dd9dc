"""The Oscar integration of the recommendations app."""

from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class OscarRecommendationsConfig(AppConfig):
    name = "recommendations.contrib.oscar"
    label = "recommendations_oscar"
    verbose_name = "Recommendations for django-oscar"

    def ready(self) -> None:
        """Invalidate cached lists whenever Oscar's stock or categories change."""
        from oscar.core.loading import get_model

        from recommendations.contrib.oscar import receivers

        for label in ("partner.StockRecord", "catalogue.ProductCategory"):
            model = get_model(*label.split("."))
            uid = f"recommendations-oscar-{label.lower()}"
            post_save.connect(receivers.stock_changed, sender=model, dispatch_uid=uid)
            post_delete.connect(receivers.stock_changed, sender=model, dispatch_uid=uid)
