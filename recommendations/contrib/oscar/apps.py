"""The Oscar integration of the recommendations app."""

from __future__ import annotations

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save, pre_save


class OscarRecommendationsConfig(AppConfig):
    name = "recommendations.contrib.oscar"
    label = "recommendations_oscar"
    verbose_name = "Recommendations for django-oscar"

    def ready(self) -> None:
        """Invalidate cached lists whenever Oscar's stock or categories change."""
        from oscar.core.loading import get_model

        from recommendations.contrib.oscar import receivers

        stock = get_model("partner", "StockRecord")
        uid = "recommendations-oscar-partner.stockrecord"
        pre_save.connect(receivers.stock_saving, sender=stock, dispatch_uid=uid)
        post_save.connect(receivers.stock_saved, sender=stock, dispatch_uid=uid)
        post_delete.connect(receivers.catalog_row_changed, sender=stock, dispatch_uid=uid)
        categories = get_model("catalogue", "ProductCategory")
        uid = "recommendations-oscar-catalogue.productcategory"
        post_save.connect(receivers.catalog_row_changed, sender=categories, dispatch_uid=uid)
        post_delete.connect(receivers.catalog_row_changed, sender=categories, dispatch_uid=uid)
