"""URLs of the storefront; other apps and templates rely on these names."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.urls import path

from shop import views

app_name = "shop"
urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    path("category/<slug:slug>/", views.category, name="category"),
    path("category/<slug:slug>/image.svg", views.category_image, name="category_image"),
    path("product/<int:pk>/", views.product, name="product"),
    path("product/<int:pk>/image.svg", views.product_image, name="product_image"),
    path("product/<int:pk>/review/", views.review_create, name="review_create"),
    path("cart/", views.cart, name="cart"),
    path("cart/add/<int:pk>/", views.cart_add, name="cart_add"),
    path("cart/update/<int:pk>/", views.cart_update, name="cart_update"),
    path("checkout/", views.checkout, name="checkout"),
    path("account/", views.account, name="account"),
    path("account/orders/<str:number>/", views.order_detail, name="order_detail"),
    path("account/data/", views.account_export, name="account_export"),
    path("account/sharing/", views.account_sharing, name="account_sharing"),
    path("account/following/", views.following, name="following"),
    path("people/<int:pk>/", views.person, name="person"),
    path("people/<int:pk>/follow/", views.person_follow, name="person_follow"),
    path("people/<int:pk>/unfollow/", views.person_unfollow, name="person_unfollow"),
    path("account/delete/", views.account_delete, name="account_delete"),
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("demo-login/", views.demo_login, name="demo_login"),
]
