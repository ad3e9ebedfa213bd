"""Token and revocation endpoints: DOT's views, made safe against malformed input."""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.views import RevokeTokenView as DOTRevokeTokenView
from oauth2_provider.views import TokenView as DOTTokenView

log = logging.getLogger(__name__)

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


@method_decorator(csrf_exempt, name="dispatch")
class TokenView(DOTTokenView):
    """POST /t/<tenant>/token"""

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return malformed(request) or super().post(request)

    def http_method_not_allowed(self, request, *args, **kwargs) -> HttpResponse:
        return oauth_error("invalid_request", "Use POST.", status=405)


@method_decorator(csrf_exempt, name="dispatch")
class RevokeTokenView(DOTRevokeTokenView):
    """POST /t/<tenant>/revoke (RFC 7009)"""

    http_method_names = ["post", "options"]

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        return malformed(request) or super().post(request)

    def http_method_not_allowed(self, request, *args, **kwargs) -> HttpResponse:
        return oauth_error("invalid_request", "Use POST.", status=405)
