"""The relying party's own page: who is signed in, with the claims the IdP sent."""

from django.conf import settings
from django.shortcuts import render


def home(request):
    identity = getattr(request.user, "identity", None) if request.user.is_authenticated else None
    return render(request, "home.html", {"identity": identity, "login_url": settings.RP_LOGIN_URL,
                                         "logout_url": settings.RP_LOGOUT_URL})
