"""URL configuration of the demo store."""

from django.contrib import admin
from django.urls import include, path

from config.views import HealthView, SchemaView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/recommendations/", include("recommendations.urls")),
    path("api/health/", HealthView.as_view(), name="health"),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("", include("shop.urls")),
]
