"""Sign-in, callback and sign-out with Authlib's Django client (the README's few lines)."""

from __future__ import annotations

from urllib.parse import urlencode

from authlib.integrations.django_client import OAuth
from django.conf import settings
from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, HttpResponseRedirect
from django.views.decorators.http import require_POST
from rp_common.identities import user_for

oauth = OAuth()
oauth.register(
    "tessera",
    client_id=settings.CLIENT_ID,
    client_secret=settings.CLIENT_SECRET,
    server_metadata_url=f"{settings.ISSUER}/.well-known/openid-configuration",  # everything else from there
    client_kwargs={
        "scope": "openid email profile",
        "code_challenge_method": "S256",  # PKCE: off unless asked for; Tessera requires it
        "token_endpoint_auth_method": "client_secret_basic",
    },
)


def login(request: HttpRequest) -> HttpResponse:
    return oauth.tessera.authorize_redirect(request, request.build_absolute_uri("/callback/"))


def callback(request: HttpRequest) -> HttpResponse:
    if request.GET.get("iss") != settings.ISSUER:  # RFC 9207: which IdP answered
        return HttpResponseBadRequest("authorization response from another issuer")
    if "error" in request.GET:
        return HttpResponseBadRequest(f"sign-in refused: {request.GET['error']}")
    token = oauth.tessera.authorize_access_token(request)  # checks state, ID token (iss, aud, nonce)
    profile = oauth.tessera.userinfo(token=token)
    if profile["sub"] != token["userinfo"]["sub"]:  # OpenID Connect Core §5.3.2
        return HttpResponseBadRequest("userinfo is about someone else")
    auth_login(request, user_for(settings.ISSUER, {**token["userinfo"], **profile}),
               backend="django.contrib.auth.backends.ModelBackend")
    request.session["id_token"] = token["id_token"]
    return HttpResponseRedirect("/")


@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """Sign out here, then at Tessera (RP-initiated logout), and come back."""
    id_token = request.session.get("id_token")
    auth_logout(request)
    end_session = oauth.tessera.load_server_metadata()["end_session_endpoint"]
    params = {"post_logout_redirect_uri": request.build_absolute_uri("/"), "client_id": settings.CLIENT_ID}
    if id_token:
        params["id_token_hint"] = id_token
    return HttpResponseRedirect(f"{end_session}?{urlencode(params)}")
