"""DOT's stock URLs under /o/ (its tutorial's prefix) and Django's stock LoginView."""

from django.contrib.auth.views import LoginView
from django.http import HttpResponse
from django.urls import include, path


def signed_in(request):
    """Where a login without ?next= lands (the benchmark always posts a next)."""
    return HttpResponse("signed in")


urlpatterns = [
    path("o/", include("oauth2_provider.urls", namespace="oauth2_provider")),
    path("accounts/login/", LoginView.as_view(), name="login"),
    path("accounts/done/", signed_in),
]
