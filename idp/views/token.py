"""Token and revocation endpoints: DOT's views, made strict about their input."""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import unquote_plus

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.views import RevokeTokenView as DOTRevokeTokenView
from oauth2_provider.views import TokenView as DOTTokenView

from idp.denylist import DenyListUnavailable
from idp.views.ratelimit import limited
from tenants.context import current_issuer

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def oauth_error(error: str, description: str, status: int = 400) -> JsonResponse:
    """An RFC 6749 §5.2 error body."""
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response


INVALID_CLIENT = ("Client authentication failed: the client id is unknown here, the secret is wrong or missing, "
                  "or the client is public and may not use this endpoint.")


def with_client_error_description(response: HttpResponse) -> HttpResponse:
    """oauthlib's invalid_client has no description; a developer needs one (RFC 6749 §5.2)."""
    try:
        body = json.loads(response.content)
    except ValueError:
        return response
    if isinstance(body, dict) and body.get("error") == "invalid_client" and not body.get("error_description"):
        body["error_description"] = INVALID_CLIENT
        response.content = json.dumps(body).encode()
    return response


def basic_challenge() -> str:
    """The WWW-Authenticate of a client-authentication failure: the scheme clients use here
    is Basic (RFC 6749 §5.2 asks for the scheme the client used; Bearer would be wrong)."""
    return f'Basic realm="{current_issuer()}", error="invalid_client"'


def basic_client_id(request: HttpRequest) -> str | None:
    """The client_id inside an ``Authorization: Basic`` header (form-decoded, RFC 6749 §2.3.1)."""
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme != "Basic":
        return None
    try:
        return unquote_plus(base64.b64decode(value.strip(), validate=True).decode("utf-8").split(":", 1)[0])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


def malformed(request: HttpRequest) -> JsonResponse | None:
    """RFC 6749 §3.2 / RFC 7009 §2.1: POST, form-encoded, parameters at most once, one way of
    authenticating the client (RFC 6749 §2.3)."""
    if request.method != "POST":
        return oauth_error("invalid_request", "Use POST.", status=405)
    content_type = request.content_type or ""
    if content_type != FORM_CONTENT_TYPE:
        return oauth_error("invalid_request", f"The body must be {FORM_CONTENT_TYPE}.")
    try:
        params = request.POST
    except Exception:  # an unparsable body (bad encoding, too many fields)
        return oauth_error("invalid_request", "The request body could not be parsed.")
    repeated = [key for key, values in params.lists() if len(values) > 1 and key != "resource"]
    if repeated:
        return oauth_error("invalid_request", f"Parameter {repeated[0]} was sent more than once.")
    if request.GET:
        # Credentials and codes never travel in the URL of a token request.
        return oauth_error("invalid_request", "Token requests take no query parameters.")
    basic_client = basic_client_id(request)
    if basic_client is not None:
        if "client_secret" in params:
            return oauth_error("invalid_request", "Use one client authentication method: the Authorization "
                                                  "header or client_secret in the body, not both.")
        if "client_id" in params and params["client_id"] != basic_client:
            return oauth_error("invalid_request", "client_id in the body differs from the Authorization header.")
    return None


class StrictFormPost:
    """POST only, with a well-formed form body, before DOT's view sees the request; a failed
    client authentication is challenged with Basic."""

    http_method_names = ["post", "options"]
    endpoint = "token"  # its rate limits' name (idp.views.ratelimit)

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        response = malformed(request) or limited(request, self.endpoint, basic_client_id(request),
                                                 lambda: self.respond(request))
        if response.status_code == 401:
            response["WWW-Authenticate"] = basic_challenge()
            with_client_error_description(response)
        return response

    def respond(self, request: HttpRequest) -> HttpResponse:
        return super().post(request)  # type: ignore[misc]

    def http_method_not_allowed(self, request, *args, **kwargs) -> HttpResponse:
        return oauth_error("invalid_request", "Use POST.", status=405)


@method_decorator(csrf_exempt, name="dispatch")
@method_decorator(sensitive_post_parameters("client_secret", "code", "code_verifier", "refresh_token"),
                  name="dispatch")
class TokenView(StrictFormPost, DOTTokenView):
    """POST /t/<tenant>/token

    Unlike DOT's view there is no device-code branch (not offered) and no lookup of the new
    token to send ``app_authorized``: that was one more query on every grant, and token
    events are recorded where tokens are saved.
    """

    def respond(self, request: HttpRequest) -> HttpResponse:
        _url, headers, body, status = self.create_token_response(request)
        response = HttpResponse(content=body, status=status, content_type="application/json")
        for key, value in headers.items():
            response[key] = value
        return response


@method_decorator(csrf_exempt, name="dispatch")
class RevokeTokenView(StrictFormPost, DOTRevokeTokenView):
    """POST /t/<tenant>/revoke (RFC 7009)"""

    endpoint = "revocation"

    def respond(self, request: HttpRequest) -> HttpResponse:
        try:
            return super().respond(request)
        except DenyListUnavailable:
            # RFC 7009 §2.2.1: 503, the client assumes the token still valid and retries. Nothing
            # was half revoked: the deny list is written before any row is touched, and this is
            # raised only for a token with no row.
            response = oauth_error("temporarily_unavailable", "The token could not be revoked just now; "
                                                              "try again shortly.", status=503)
            response["Retry-After"] = "5"
            return response
