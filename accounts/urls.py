"""Tenant-scoped account pages, mounted under /t/<tenant>/."""

from django.urls import path

from accounts import views

app_name = "accounts"
urlpatterns = [
    path("login", views.login_view, name="login"),
    path("", views.home_view, name="home"),
]
