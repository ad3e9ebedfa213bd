"""RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0) and the sign-out page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.decorators import method_decorator
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect

from accounts.authn import current_authentication
from idp import events, keys
from idp.models import Application
from idp.services.tokens import revoke_session_tokens
from tenants.locale import in_english


class LogoutRequestError(Exception):
    """The logout request cannot be honoured; shown to the person (in their language, the
    message is lazy), never redirected; audited in English."""


def verify_id_token_hint(token: str) -> dict[str, Any]:
    """Claims of an ID token this tenant issued: signature, issuer and ``typ`` checked (an
    access token or any other JWT of ours is not an ID token); expiry is not (RP-Initiated
    Logout 1.0 §2 allows an expired one)."""
    try:
        claims = keys.verify_jwt(token, typ=keys.ID_TOKEN_TYPE)
    except keys.InvalidJWT as exc:
        raise LogoutRequestError(_("The id_token_hint is not a valid ID token of this issuer.")) from exc
    if not isinstance(claims.get("sub"), str) or "aud" not in claims:
        raise LogoutRequestError(_("The id_token_hint is not a valid ID token of this issuer."))
    return claims


@method_decorator([never_cache, csrf_protect], name="dispatch")
class LogoutView(View):
    """GET asks for confirmation (or acts at once for this session's own ID token); POST signs out."""

    def get(self, request: HttpRequest, tenant: str) -> HttpResponse:
        return self._handle(request, request.GET, confirmed=False)

    def post(self, request: HttpRequest, tenant: str) -> HttpResponse:
        return self._handle(request, request.POST, confirmed="confirm" in request.POST)

    def _handle(self, request: HttpRequest, params, confirmed: bool) -> HttpResponse:
        try:
            claims, application, redirect_uri = self._validate(params)
        except LogoutRequestError as exc:
            # The relying party has usually signed the person out on its side already: refuse
            # the redirect, but let them end the session here too (no redirect, no hint).
            events.logout_refused(client_id=str(params.get("client_id", ""))[:255], reason=in_english(exc.__str__),
                                  post_logout_redirect_uri=str(params.get("post_logout_redirect_uri", "")))
            return render(request, "idp/logout_refused.html", {"message": str(exc)}, status=400)
        authn = current_authentication(request)
        if authn is not None:
            # Without confirmation only for an ID token of this very session (its sid): an
            # older ID token of the same user, found in a log or a history, must not end the
            # current session from a cross-site GET (RP-Initiated Logout 1.0 §2).
            this_session = claims is not None and claims.get("sid") == authn.sid
            if not (confirmed or this_session):
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

    def _validate(self, params) -> tuple[dict[str, Any] | None, Application | None, str | None]:
        if any("\x00" in value for value in params.values()):
            raise LogoutRequestError(_("The request contains invalid characters."))
        claims = verify_id_token_hint(params["id_token_hint"]) if params.get("id_token_hint") else None
        client_id = params.get("client_id")
        if claims is not None:
            aud = claims.get("aud")
            aud_list = aud if isinstance(aud, list) else [aud]
            if client_id and client_id not in aud_list:
                raise LogoutRequestError(_("client_id does not match the id_token_hint."))
            client_id = client_id or aud_list[0]
        application = Application.objects.filter(client_id=client_id).first() if client_id else None
        if client_id and application is None:
            raise LogoutRequestError(_("Unknown client."))
        redirect_uri = params.get("post_logout_redirect_uri")
        if redirect_uri and application is None:
            raise LogoutRequestError(_("A post_logout_redirect_uri needs the client: send client_id or id_token_hint."))
        if redirect_uri and application is not None and not application.post_logout_redirect_uri_allowed(redirect_uri):
            raise LogoutRequestError(format_lazy(
                _("The post_logout_redirect_uri “{uri}” is not registered for {name} "
                  "(client id {client_id})."),
                uri=redirect_uri, name=application.name, client_id=application.client_id))
        return claims, application, redirect_uri
