"""The drop-in recommendations app."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RecommendationsConfig(AppConfig):
    name = "recommendations"
    verbose_name = _("Recommendations")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks; connect the receivers that keep the cache current."""
        # Imported here, not at the top: they import models, which are not loaded
        # before the app registry is ready (Django's documented pattern).
        from recommendations import checks, receivers

        checks.register()
        receivers.receivers_connect()
