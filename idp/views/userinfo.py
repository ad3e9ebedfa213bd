"""The userinfo endpoint: DOT's view, with bearer tokens accepted only in the header or body."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import csrf_exempt
from oauth2_provider.views import UserInfoView as DOTUserInfoView


@method_decorator(csrf_exempt, name="dispatch")
class UserInfoView(DOTUserInfoView):
    """GET/POST /t/<tenant>/userinfo"""

    def dispatch(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if "access_token" in request.GET:
            # RFC 9700 §4.3.2 / RFC 6750 §5.3: never a token in the URL (DOT's transport gate
            # covers resource views, not this one).
            response = JsonResponse({"error": "invalid_request",
                                     "error_description": "Send the access token in the Authorization header."},
                                    status=400)
            response["WWW-Authenticate"] = 'Bearer error="invalid_request"'
            return response
        return super().dispatch(request, *args, **kwargs)
