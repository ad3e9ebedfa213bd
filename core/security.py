"""Response headers for pages."""

from __future__ import annotations

from csp.middleware import CSPMiddleware
from django.http import HttpRequest, HttpResponseBase


class PageCSPMiddleware(CSPMiddleware):
    """django-csp's policy on HTML pages only.

    A Content-Security-Policy governs documents; JSON from the token, userinfo and
    discovery endpoints is never rendered, and building the header cost a measurable share
    of each token request (django-csp rebuilds it from dataclasses per response).
    """

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        return super().process_response(request, response)
