from django.urls import include, path
from rp_common.views import home

urlpatterns = [
    path("", home),
    path("oidc/", include("mozilla_django_oidc.urls")),
]
