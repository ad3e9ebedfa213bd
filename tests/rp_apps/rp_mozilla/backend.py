"""What mozilla-django-oidc needs from the app for Tessera (the README's few lines)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView
from rp_common.identities import user_for


class TesseraBackend(OIDCAuthenticationBackend):
    """Local users keyed on (issuer, sub), never on email: one email can exist at several
    tenants of Tessera, each its own issuer."""

    def verify_token(self, token, **kwargs):
        payload = super().verify_token(token, **kwargs)
        if payload.get("iss") != settings.ISSUER:  # mozilla-django-oidc does not check it
            raise SuspiciousOperation("ID token from another issuer")
        return payload

    def get_or_create_user(self, access_token, id_token, payload):
        claims = self.get_userinfo(access_token, id_token, payload)
        if claims.get("sub") != payload["sub"]:  # OpenID Connect Core §5.3.2
            raise SuspiciousOperation("userinfo is about someone else")
        return user_for(settings.ISSUER, claims)


class CallbackView(OIDCAuthenticationCallbackView):
    """Check RFC 9207's ``iss`` on the authorization response before redeeming the code."""

    def get(self, request):
        if "code" in request.GET and request.GET.get("iss") != settings.ISSUER:
            return self.login_failure()
        return super().get(request)


def provider_logout_url(request) -> str:
    """RP-initiated logout: sign out at Tessera too, and come back here."""
    params = {"post_logout_redirect_uri": request.build_absolute_uri("/"), "client_id": settings.CLIENT_ID}
    if request.session.get("oidc_id_token"):
        params["id_token_hint"] = request.session["oidc_id_token"]
    return f"{settings.ISSUER}/logout?{urlencode(params)}"
