"""The authorization endpoint: validate first, then login, consent, and the code redirect."""

from __future__ import annotations

import hashlib
import logging
import re
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from oauth2_provider.exceptions import OAuthToolkitError
from oauth2_provider.http import OAuth2ResponseRedirect
from oauth2_provider.scopes import get_scopes_backend
from oauth2_provider.views.mixins import OAuthLibMixin
from oauthlib.oauth2.rfc6749 import errors

from accounts.authn import (
    ACR_MULTI_FACTOR,
    Authentication,
    current_authentication,
    demand_reauthentication,
    forget_reauthentication,
    reauthenticated_for,
)
from accounts.signin import step_up
from idp import events, keys
from idp.claims import subject
from idp.models import Application
from idp.redirects import valid_resource_indicator
from idp.services.consent import has_consent, record_consent
from idp.state import FlowState
from tenants.context import current_issuer
from tenants.locale import in_english
from tenants.services import policy_for

log = logging.getLogger("tessera.idp")
REDIRECT_URI_ERRORS = (errors.InvalidRedirectURIError, errors.MismatchingRedirectURIError,
                       errors.MissingRedirectURIError)
# Outcomes of a silent check (prompt=none), not refusals: a single-page app asks them often.
SILENT_OUTCOMES = frozenset({"login_required", "consent_required", "interaction_required"})
# RFC 7636 §4.1-4.2: the S256 challenge is 43 base64url characters.
CODE_CHALLENGE_RE = re.compile(r"[A-Za-z0-9_-]{43}")
# RFC 8707 §2: resource may repeat; nothing else may (RFC 6749 §3.1).
REPEATABLE = frozenset({"resource"})


def add_iss(uri: str) -> str:
    """Add the RFC 9207 ``iss`` parameter (replacing any) to an authorization response URI."""
    parts = urlsplit(uri)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "iss"]
    query.append(("iss", current_issuer()))
    return urlunsplit(parts._replace(query=urlencode(query)))


def _fatal_problem(params) -> str | None:
    """What makes the request unanswerable at its redirect URI (shown on a page instead)."""
    if "openid" in params.get("scope", "").split() and "redirect_uri" not in params:
        return "redirect_uri is required in an OpenID Connect request (OpenID Connect Core §3.1.2.1)."
    return None


def _parameter_problem(params) -> tuple[str, str] | None:
    """(error, description) for what oauthlib lets through, or None."""
    repeated = [key for key, values in params.lists() if len(values) > 1 and key not in REPEATABLE]
    if repeated:
        return "invalid_request", f"Parameter {repeated[0]} was sent more than once (RFC 6749 §3.1)."
    if any("\x00" in value for _key, values in params.lists() for value in values):
        return "invalid_request", "Parameters may not contain NUL characters."
    if "request" in params:
        return "request_not_supported", "Request objects are not supported (OpenID Connect Core §6.1)."
    if "request_uri" in params:
        return "request_uri_not_supported", "request_uri is not supported (OpenID Connect Core §6.2)."
    if params.get("response_mode", "query") != "query":
        return "invalid_request", "Only response_mode=query is supported (see discovery)."
    if not CODE_CHALLENGE_RE.fullmatch(params.get("code_challenge", "")):
        return "invalid_request", "code_challenge must be the 43-character base64url SHA-256 of the code_verifier."
    if len(params.get("nonce", "")) > 255:
        return "invalid_request", "nonce is longer than 255 characters."
    max_age = params.get("max_age")
    if max_age is not None and not re.fullmatch(r"[0-9]{1,9}", max_age):
        return "invalid_request", "max_age must be a whole number."
    if not all(valid_resource_indicator(r) for r in params.getlist("resource")):
        return "invalid_target", "Each resource must be an absolute URI."
    return None


def _client_named(client_id: str) -> Application | None:
    """The tenant's client with this id, or None (also for ids no client can have)."""
    if not client_id or len(client_id) > 255 or "\x00" in client_id:
        return None
    return Application.objects.filter(client_id=client_id).first()


def _flow_key(request: HttpRequest) -> str:
    """This authorization request, as the key a demand for a fresh sign-in is filed under
    (its parameters include state, nonce and the PKCE challenge, so it names one flow).
    From the parsed parameters, not the raw query: the login page's ``next`` is the same
    request re-encoded."""
    canonical = urlencode(sorted((k, v) for k, values in request.GET.lists() for v in values))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


@method_decorator([never_cache, csrf_protect], name="dispatch")
class AuthorizeView(OAuthLibMixin, View):
    """GET shows login/consent as needed; POST is the consent decision (same URL and query)."""

    def get(self, request: HttpRequest, tenant: str) -> HttpResponse:
        return self._handle(request, decision=None)

    def post(self, request: HttpRequest, tenant: str) -> HttpResponse:
        return self._handle(request, decision="allow" in request.POST)

    # -- the flow -------------------------------------------------------------------------

    def _handle(self, request: HttpRequest, decision: bool | None) -> HttpResponse:
        params = request.GET
        fatal = _fatal_problem(params)
        if fatal:
            return self._error_page("invalid_request", _("The application sent an invalid request."),
                                    params.get("client_id", ""), detail=fatal)
        try:
            scopes, credentials = self.validate_authorization_request(request)
        except OAuthToolkitError as error:
            return self._error(error)
        oauth_request = credentials.pop("request", None)
        problem = _parameter_problem(params)
        if problem:
            return self._redirect_error(credentials, *problem)
        # The client the validator just checked the request against (its lookup cache, a copy
        # per request), rather than the same row read again.
        application = getattr(oauth_request, "client", None)
        if not isinstance(application, Application) or application.client_id != credentials["client_id"]:
            application = Application.objects.get(client_id=credentials["client_id"])
        credentials["resource"] = params.getlist("resource")
        prompt = set(params.get("prompt", "").split())
        hint_sub = None
        if params.get("id_token_hint"):
            try:
                hint_sub = keys.verify_jwt(params["id_token_hint"], typ=keys.ID_TOKEN_TYPE).get("sub")
            except keys.InvalidJWT:
                return self._redirect_error(credentials, "invalid_request",
                                            "id_token_hint is not an ID token of this issuer.")
        # RFC 8252 §8.6: another app on the device may listen on any loopback port, and a
        # public client proves nothing at the token endpoint; a code for a port that was not
        # registered is only ever handed over with the person present and approving.
        unregistered_port = (application.client_type == Application.CLIENT_PUBLIC
                             and not application.redirect_uri_registered(credentials["redirect_uri"]))
        if "none" in prompt and unregistered_port:
            return self._redirect_error(credentials, "interaction_required",
                                        "The user must approve a redirect to this port.")

        flow = _flow_key(request)
        authn = current_authentication(request)
        needs_login = self._needs_login(request, authn, prompt, params.get("max_age"), hint_sub, flow)
        if needs_login:
            if "none" in prompt or needs_login == "login_required":
                return self._redirect_error(credentials, "login_required")
            demand_reauthentication(request, flow)
            return self._to_login(request)
        assert authn is not None  # noqa: S101 (narrows the type: _needs_login said "login" for None)
        if self._needs_step_up(request, authn, params):
            if "none" in prompt:
                return self._redirect_error(credentials, "interaction_required",
                                            "The request asks for a second factor (acr_values).")
            return step_up(request, request.user, authn.amr, request.get_full_path(), reason="acr_values")

        if decision is None:
            needs_consent = "consent" in prompt or unregistered_port or not (
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

        credentials["tessera"] = FlowState(authn=authn, redirect_uri_provided="redirect_uri" in params)
        try:
            uri, _headers, _body, _status = self.create_authorization_response(
                request=request, scopes=" ".join(scopes), credentials=credentials, allow=True
            )
        except OAuthToolkitError as error:
            return self._error(error)
        forget_reauthentication(request, flow)
        return self._redirect(uri, application)

    def _needs_login(self, request: HttpRequest, authn: Authentication | None, prompt: set[str],
                     max_age: str | None, hint_sub: Any, flow: str) -> str | None:
        """Why the person must sign in (first) before this request can be answered, or None.

        prompt=login and max_age are bound to the flow, not to the URL: only a sign-in made
        after this request demanded one satisfies them (accounts.authn), so reopening the
        login page's ``next`` with an old session does not. An id_token_hint naming someone
        else than the signed-in user asks for a sign-in too; if even that sign-in is someone
        else, the answer is login_required (OpenID Connect Core §3.1.2.1).
        """
        if authn is None:
            return "login"
        fresh = reauthenticated_for(request, flow)
        if "login" in prompt and not fresh:
            return "login"
        if max_age is not None and time.time() - authn.auth_time > int(max_age) and not fresh:
            return "login"
        # authn is set, so request.user is a signed-in User, not AnonymousUser.
        if hint_sub is not None and hint_sub != subject(request.user.uid):  # type: ignore[union-attr]
            return "login_required" if fresh else "login"
        return None

    def _needs_step_up(self, request: HttpRequest, authn: Authentication, params) -> bool:
        """acr_values asks for multi-factor, the session has one factor, and the tenant offers a
        second (otherwise acr_values, a voluntary claim, is answered with the acr there is)."""
        if ACR_MULTI_FACTOR not in params.get("acr_values", "").split() or authn.acr == ACR_MULTI_FACTOR:
            return False
        return bool(policy_for(request.tenant).allowed_factors - {"recovery"})  # type: ignore[attr-defined]

    # -- responses ------------------------------------------------------------------------

    def _to_login(self, request: HttpRequest) -> HttpResponse:
        params = {"next": request.get_full_path()}
        if request.GET.get("login_hint"):
            params["login_hint"] = request.GET["login_hint"][:254]
        login_url = reverse("accounts:login", kwargs={"tenant": request.tenant.slug})  # type: ignore[attr-defined]
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
        application = _client_named(credentials["client_id"])
        self._refused(application, credentials["client_id"], error, description or "", uri, redirected=True)
        return self._redirect(uri + ("&" if "?" in uri else "?") + urlencode(params), application)

    def _error(self, error: OAuthToolkitError) -> HttpResponse:
        redirect, response = self.error_response(error)
        client_id = self.request.GET.get("client_id", "")
        application = _client_named(client_id)
        oauth_error = response["error"]
        if redirect:
            self._refused(application, client_id, oauth_error.error, oauth_error.description or "",
                          self.request.GET.get("redirect_uri", ""), redirected=True)
            return self._redirect(response["url"], application)
        # Invalid client or redirect URI: never redirect anywhere (RFC 6749 §4.1.2.1). Say
        # which client and which URI, so its developers can see what does not match.
        received = self.request.GET.get("redirect_uri", "")

        def explain() -> str:
            if application is None:
                return (_("No application with the client id “%(client_id)s” is registered here.")
                        % {"client_id": client_id} if client_id
                        else _("The request names no application (client_id is missing)."))
            if isinstance(oauth_error, REDIRECT_URI_ERRORS):
                return _("The redirect URI “%(uri)s” sent by %(name)s (client id %(client_id)s) matches "
                         "none of its registered redirect URIs. They must match exactly: a trailing slash, http "
                         "or https, 127.0.0.1 or localhost, and the port all count.") % {
                    "uri": received or _("(none)"), "name": application.name, "client_id": client_id}
            return _("The application sent an invalid request.")

        ours = application is None or isinstance(oauth_error, REDIRECT_URI_ERRORS)
        detail = "" if ours else oauth_error.description or ""
        return self._error_page(oauth_error.error, explain(), client_id, application=application, detail=detail,
                                audited=detail or in_english(explain))

    def _error_page(self, error: str, message: str, client_id: str, application: Application | None = None,
                    *, detail: str = "", audited: str = "") -> HttpResponse:
        """The page for a request that cannot go back to its relying party. ``message`` is in
        the reader's language; ``detail`` is the protocol's own text for the application's
        developers (English, like the error code); the audit keeps ``audited`` (English)."""
        self._refused(application, client_id, error, audited or detail or message,
                      self.request.GET.get("redirect_uri", ""), redirected=False)
        return render(self.request, "error.html", {
            "title": _("This sign-in link is not valid"), "error": error, "message": message, "detail": detail,
        }, status=400)

    def _refused(self, application: Application | None, client_id: str, error: str, description: str,
                 redirect_uri: str, *, redirected: bool) -> None:
        """Audit (and log) a refused request: the relying party may swallow the error."""
        if error in SILENT_OUTCOMES:
            return
        log.warning("authorization request refused: client=%r error=%s redirect_uri=%r: %s",
                    client_id[:100], error, redirect_uri[:300], description)
        events.authorization_refused(client=application, client_id=client_id, error=error,
                                     description=description, redirect_uri=redirect_uri, redirected=redirected)
