"""The demo store's app configuration."""

from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "shop"
    verbose_name = "Shop"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Connect the storefront's receivers (imported here: they import models)."""
        from shop.receivers import receivers_connect

        receivers_connect()
