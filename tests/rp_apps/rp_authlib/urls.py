from django.urls import path
from rp_authlib import views
from rp_common.views import home

urlpatterns = [
    path("", home),
    path("login/", views.login),
    path("callback/", views.callback),
    path("logout/", views.logout),
]
