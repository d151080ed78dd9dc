"""The library's URLs: only the recommendations API and its schema."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("api/recommendations/", include("recommendations.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
]
