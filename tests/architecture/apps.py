"""The recommendations app without its ``ready()``, for the import isolation test."""

from __future__ import annotations

from django.apps import AppConfig


class BareRecommendationsConfig(AppConfig):
    name = "recommendations"
    label = "recommendations"
    default_auto_field = "django.db.models.BigAutoField"
