"""The app's URLs; a host project includes them, e.g. under ``api/recommendations/``.

path("api/recommendations/", include("recommendations.urls")),
"""

from __future__ import annotations

from recommendations.api.urls import urlpatterns

app_name = "recommendations"

__all__ = ["app_name", "urlpatterns"]
