"""Routes of the recommendations API (included by :mod:`recommendations.urls`)."""

from __future__ import annotations

from django.urls import path

from recommendations.api import views

urlpatterns = [
    path("me/", views.MyRecommendationsView.as_view(), name="me"),
    path("users/<str:pk>/", views.UserRecommendationsView.as_view(), name="user"),
    path("products/<str:pk>/similar/", views.SimilarProductsView.as_view(), name="similar"),
    path(
        "products/<str:pk>/bought-together/",
        views.BoughtTogetherView.as_view(),
        name="bought-together",
    ),
    path("trending/", views.TrendingView.as_view(), name="trending"),
    path("followed/", views.FollowedView.as_view(), name="followed"),
    path("events/", views.EventView.as_view(), name="events"),
    path("training-runs/", views.TrainingRunListView.as_view(), name="training-runs"),
    path(
        "training-runs/<str:pk>/",
        views.TrainingRunDetailView.as_view(),
        name="training-run",
    ),
]
