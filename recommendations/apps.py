"""The drop-in recommendations app."""

from __future__ import annotations

from django.apps import AppConfig


class RecommendationsConfig(AppConfig):
    name = "recommendations"
    verbose_name = "Recommendations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks of the ``RECOMMENDATIONS`` setting."""
        from recommendations import checks

        checks.register()
