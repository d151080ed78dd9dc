"""The drop-in recommendations app."""

from __future__ import annotations

from contextlib import suppress

from django.apps import AppConfig
from django.core.exceptions import FieldDoesNotExist, ImproperlyConfigured


class RecommendationsConfig(AppConfig):
    name = "recommendations"
    verbose_name = "Recommendations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Register the system checks; connect the receivers that keep the cache current."""
        from recommendations import checks, selectors

        checks.register()
        # A wrong RECOMMENDATIONS setting is left to the system checks to explain.
        with suppress(
            ImproperlyConfigured, ImportError, LookupError, ValueError, FieldDoesNotExist
        ):
            selectors.history_signals_connect()
