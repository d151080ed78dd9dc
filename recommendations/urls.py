"""The app's URLs; a host project includes them, e.g. under ``api/recommendations/``.

path("api/recommendations/", include("recommendations.urls")),

Only this module (and :mod:`recommendations.api`) needs the ``[api]`` extra, Django REST
framework and drf-spectacular: the template tags, the admin and training work without.
"""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

API_REQUIREMENTS = ("rest_framework", "drf_spectacular")

try:
    from recommendations.api.urls import urlpatterns
except ModuleNotFoundError as exc:
    if (exc.name or "").partition(".")[0] not in API_REQUIREMENTS:
        raise
    raise ImproperlyConfigured(
        f"The recommendations API needs {exc.name!r}, which is not installed: "
        'pip install "django-shop-recommendations[api]", or leave recommendations.urls out.'
    ) from exc

app_name = "recommendations"

__all__ = ["app_name", "urlpatterns"]
