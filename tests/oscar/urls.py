"""URLs of the Oscar test shop: Oscar's own, and the recommendations API."""

from django.apps import apps
from django.urls import include, path

urlpatterns = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("api/recommendations/", include("recommendations.urls")),
    path("", include(apps.get_app_config("oscar").urls[0])),
]
