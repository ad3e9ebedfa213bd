"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and the sign-out page."""

from __future__ import annotations

import json
from urllib.parse import urlencode

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from jwcrypto import jwt
from jwcrypto.common import JWException

from accounts.authn import current_authentication
from idp import keys
from idp.models import Application
from idp.services import revoke_session_tokens
from tenants.context import current_issuer


class LogoutRequestError(Exception):
    """The logout request cannot be honoured; shown to the person, never redirected."""


def verify_id_token_hint(token: str) -> dict:
    """Claims of an ID token this tenant issued (signature and iss checked; expiry is not)."""
    try:
        parsed = jwt.JWT(key=keys.jwk_set(), jwt=token, check_claims={})
        claims = json.loads(parsed.claims)
    except (JWException, ValueError, TypeError, KeyError) as exc:
        raise LogoutRequestError("The id_token_hint is not a valid ID token of this issuer.") from exc
    if claims.get("iss") != current_issuer():
        raise LogoutRequestError("The id_token_hint was issued by another issuer.")
    return claims


@method_decorator([never_cache, csrf_protect], name="dispatch")
class LogoutView(View):
    """GET asks for confirmation (or acts at once for a matching id_token_hint); POST signs out."""

    def get(self, request: HttpRequest, tenant: str) -> HttpResponse:
        return self._handle(request, request.GET, confirmed=False)

    def post(self, request: HttpRequest, tenant: str) -> HttpResponse:
        return self._handle(request, request.POST, confirmed="confirm" in request.POST)

    def _handle(self, request: HttpRequest, params, confirmed: bool) -> HttpResponse:
        try:
            claims, application, redirect_uri = self._validate(params)
        except LogoutRequestError as exc:
            return render(request, "error.html", {"title": "Sign-out request not valid",
                                                  "message": str(exc)}, status=400)
        authn = current_authentication(request)
        if authn is not None:
            hint_matches = claims is not None and claims.get("sub") == str(request.user.uid)
            if not (confirmed or hint_matches):
                return render(request, "idp/logout_confirm.html", {
                    "application": application,
                    "params": {k: params[k] for k in ("id_token_hint", "post_logout_redirect_uri",
                                                      "client_id", "state") if params.get(k)},
                })
            revoke_session_tokens(request.user, authn.sid)
            logout(request)
        if redirect_uri:
            state = params.get("state")
            query = urlencode({"state": state}) if state else ""
            return HttpResponseRedirect(redirect_uri + (("&" if "?" in redirect_uri else "?") + query if query else ""))
        return render(request, "idp/logged_out.html", {})

    def _validate(self, params) -> tuple[dict | None, Application | None, str | None]:
        if any("\x00" in value for value in params.values()):
            raise LogoutRequestError("The request contains invalid characters.")
        claims = verify_id_token_hint(params["id_token_hint"]) if params.get("id_token_hint") else None
        client_id = params.get("client_id")
        if claims is not None:
            aud = claims.get("aud")
            aud_list = aud if isinstance(aud, list) else [aud]
            if client_id and client_id not in aud_list:
                raise LogoutRequestError("client_id does not match the id_token_hint.")
            client_id = client_id or aud_list[0]
        application = Application.objects.filter(client_id=client_id).first() if client_id else None
        if client_id and application is None:
            raise LogoutRequestError("Unknown client.")
        redirect_uri = params.get("post_logout_redirect_uri")
        if redirect_uri and (application is None or not application.post_logout_redirect_uri_allowed(redirect_uri)):
            raise LogoutRequestError("post_logout_redirect_uri is not registered for this client.")
        return claims, application, redirect_uri
