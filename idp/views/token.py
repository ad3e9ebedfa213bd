"""Token and revocation endpoints: DOT's views, made safe against malformed input."""

from __future__ import annotations


from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.debug import sensitive_post_parameters
from oauth2_provider.views import RevokeTokenView as DOTRevokeTokenView
from oauth2_provider.views import TokenView as DOTTokenView


FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def oauth_error(error: str, description: str, status: int = 400) -> JsonResponse:
    """An RFC 6749 §5.2 error body."""
    response = JsonResponse({"error": error, "error_description": description}, status=status)
    response["Cache-Control"] = "no-store"
    return response


def malformed(request: HttpRequest) -> JsonResponse | None:
    """RFC 6749 §3.2 / RFC 7009 §2.1: POST, form-encoded, parameters at most once."""
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
    return None


class StrictFormPost:
    """POST only, with a well-formed form body, before DOT's view sees the request."""

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return malformed(request) or super().post(request)  # type: ignore[misc]

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

    def authorization_flow_token_response(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        _url, headers, body, status = self.create_token_response(request)
        response = HttpResponse(content=body, status=status, content_type="application/json")
        for key, value in headers.items():
            response[key] = value
        return response

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return malformed(request) or self.authorization_flow_token_response(request)


@method_decorator(csrf_exempt, name="dispatch")
class RevokeTokenView(StrictFormPost, DOTRevokeTokenView):
    """POST /t/<tenant>/revoke (RFC 7009)"""
