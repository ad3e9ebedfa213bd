"""The introspection endpoint (RFC 7662) for the tenant's confidential clients."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.views.mixins import OAuthLibMixin

from idp.introspection import introspect
from idp.views.ratelimit import limited
from idp.views.token import INVALID_CLIENT, basic_challenge, basic_client_id, malformed, oauth_error


@method_decorator(csrf_exempt, name="dispatch")
class IntrospectView(OAuthLibMixin, View):
    """POST /t/<tenant>/introspect: any confidential client of the tenant may ask."""

    http_method_names = ["post"]

    def post(self, request: HttpRequest, tenant: str) -> HttpResponse:
        return malformed(request) or limited(request, "introspection", basic_client_id(request),
                                             lambda: self._introspect(request))

    def _introspect(self, request: HttpRequest) -> HttpResponse:
        if not self.authenticate_client(request):
            response = oauth_error("invalid_client", INVALID_CLIENT, status=401)
            response["WWW-Authenticate"] = basic_challenge()
            return response
        token = request.POST.get("token")
        if not token:
            return oauth_error("invalid_request", "The token parameter is missing.")
        response = JsonResponse(introspect(token, request.POST.get("token_type_hint")))
        response["Cache-Control"] = "no-store"
        return response

    def http_method_not_allowed(self, request, *args, **kwargs) -> HttpResponse:
        return oauth_error("invalid_request", "Use POST.", status=405)
