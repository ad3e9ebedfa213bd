"""The authorization endpoint: validate first, then login, consent, and the code redirect."""

from __future__ import annotations

import re
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.scopes import get_scopes_backend
from oauth2_provider.views.mixins import OAuthLibMixin

from accounts.authn import current_authentication
from idp.models import Application
from idp.redirects import valid_resource_indicator
from idp.services import has_consent, record_consent
from tenants.context import current_issuer


def add_iss(uri: str) -> str:
    """Add the RFC 9207 ``iss`` parameter (replacing any) to an authorization response URI."""
    parts = urlsplit(uri)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "iss"]
    query.append(("iss", current_issuer()))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _after_login(url: str) -> str:
    """The authorization URL to return to after a forced login: without prompt=login and
    max_age, which the fresh login has just satisfied (else max_age=0 would loop forever)."""
    parts = urlsplit(url)
    query = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key == "max_age":
            continue
        if key == "prompt":
            value = " ".join(p for p in value.split() if p != "login")
            if not value:
                continue
        query.append((key, value))
    return urlunsplit(parts._replace(query=urlencode(query)))


# RFC 7636 §4.1-4.2: the S256 challenge is 43 base64url characters.
CODE_CHALLENGE_RE = re.compile(r"[A-Za-z0-9_-]{43}")


def _parameter_problem(params) -> str | None:
    """What is wrong with parameters oauthlib passes through unchecked, or None."""
    if any("\x00" in value for _key, values in params.lists() for value in values):
        return "Parameters may not contain NUL characters."
    if not CODE_CHALLENGE_RE.fullmatch(params.get("code_challenge", "")):
        return "code_challenge must be the 43-character base64url SHA-256 of the code_verifier."
    if len(params.get("nonce", "")) > 255:
        return "nonce is longer than 255 characters."
    return None


@method_decorator([never_cache, csrf_protect], name="dispatch")
class AuthorizeView(OAuthLibMixin, View):
    """GET shows login/consent as needed; POST is the consent decision (same URL and query)."""

    def get(self, request: HttpRequest, tenant: str) -> HttpResponse:
        return self._handle(request, decision=None)

    def post(self, request: HttpRequest, tenant: str) -> HttpResponse:
        return self._handle(request, decision="allow" in request.POST)

    # -- the flow -------------------------------------------------------------------------

    def _handle(self, request: HttpRequest, decision: bool | None) -> HttpResponse:
        try:
            scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self._error(error)
        credentials.pop("request", None)
        problem = _parameter_problem(request.GET)
        if problem:
            return self._redirect_error(credentials, "invalid_request", problem)
        application = Application.objects.get(client_id=credentials["client_id"])
        prompt = set(request.GET.get("prompt", "").split())
        max_age = request.GET.get("max_age")
        if max_age is not None and not re.fullmatch(r"[0-9]{1,9}", max_age):
            return self._redirect_error(credentials, "invalid_request", "max_age must be a whole number.")
        resources = request.GET.getlist("resource")
        if not all(valid_resource_indicator(r) for r in resources):
            return self._redirect_error(credentials, "invalid_target", "Each resource must be an absolute URI.")
        credentials["resource"] = resources
        credentials["tessera_redirect_uri_provided"] = "redirect_uri" in request.GET

        authn = current_authentication(request)
        stale = authn is not None and max_age is not None and time.time() - authn.auth_time > int(max_age)
        if authn is None or stale or "login" in prompt:
            if "none" in prompt:
                return self._redirect_error(credentials, "login_required")
            return self._to_login(request)

        if decision is None:
            needs_consent = "consent" in prompt or not (
                application.is_first_party or has_consent(request.user, application, scopes)
            )
            if needs_consent:
                if "none" in prompt:
                    return self._redirect_error(credentials, "consent_required")
                return self._consent_page(request, application, scopes)
        elif not decision:
            return self._redirect_error(credentials, "access_denied", "The user declined the request.")
        else:
            record_consent(request.user, application, scopes)

        credentials["tessera_authn"] = authn
        try:
            uri, _headers, _body, _status = self.create_authorization_response(
                request=request, scopes=" ".join(scopes), credentials=credentials, allow=True
            )
        except OAuthToolkitError as error:
            return self._error(error)
        return self._redirect(uri, application)

    # -- responses ------------------------------------------------------------------------

    def _to_login(self, request: HttpRequest) -> HttpResponse:
        params = {"next": _after_login(request.get_full_path())}
        if request.GET.get("login_hint"):
            params["login_hint"] = request.GET["login_hint"][:254]
        login_url = reverse("accounts:login", kwargs={"tenant": request.tenant.slug})
        return HttpResponseRedirect(f"{login_url}?{urlencode(params)}")

    def _consent_page(self, request: HttpRequest, application: Application, scopes: list[str]) -> HttpResponse:
        described = get_scopes_backend().get_all_scopes()
        return render(request, "idp/consent.html", {
            "application": application,
            "scopes": [(s, described.get(s, s)) for s in scopes],
            "action": request.get_full_path(),
        })

    def _redirect(self, uri: str, application: Application | None) -> HttpResponse:
        schemes = application.get_allowed_schemes() if application else ["https", "http"]
        return OAuth2ResponseRedirect(add_iss(uri), schemes)

    def _redirect_error(self, credentials: dict, error: str, description: str | None = None) -> HttpResponse:
        """An error to the (already validated) redirect_uri, with state and iss."""
        params = {"error": error}
        if description:
            params["error_description"] = description
        if credentials.get("state"):
            params["state"] = credentials["state"]
        uri = credentials["redirect_uri"]
        uri = uri + ("&" if "?" in uri else "?") + urlencode(params)
        application = Application.objects.filter(client_id=credentials["client_id"]).first()
        return self._redirect(uri, application)

    def _error(self, error: OAuthToolkitError) -> HttpResponse:
        redirect, response = self.error_response(error)
        if redirect:
            client_id = self.request.GET.get("client_id", "")
            application = Application.objects.filter(client_id=client_id).first()
            return self._redirect(response["url"], application)
        # Invalid client or redirect URI: never redirect anywhere (RFC 6749 §4.1.2.1).
        oauth_error = response["error"]
        return render(self.request, "error.html", {
            "title": "This sign-in link is not valid",
            "error": oauth_error.error,
            "message": oauth_error.description or "The application sent an invalid request.",
        }, status=400)
