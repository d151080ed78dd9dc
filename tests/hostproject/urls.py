"""The library's URLs: the admin, the recommendations API and its schema."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from tests.hostproject.urls_base import urlpatterns as base_urlpatterns

urlpatterns = [
    *base_urlpatterns,
    path("api/recommendations/", include("recommendations.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
]
