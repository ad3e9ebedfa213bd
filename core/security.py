"""Response headers for pages."""

from __future__ import annotations

from csp.middleware import CSPMiddleware
from django.http import HttpRequest, HttpResponseBase


class PageCSPMiddleware(CSPMiddleware):
    """django-csp's policy, and Cross-Origin-Resource-Policy, on HTML pages only.

    A Content-Security-Policy governs documents; JSON from the token, userinfo and
    discovery endpoints is never rendered, and building the header cost a measurable share
    of each token request (django-csp rebuilds it from dataclasses per response). CORP
    ``same-origin`` keeps another site from embedding a page as a resource (Spectre-style
    reads); the JSON endpoints that relying parties' pages fetch are governed by CORS instead.
    Django's SecurityMiddleware sets COOP, nosniff and the Referrer-Policy on every response.
    """

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        if not response.get("Content-Type", "").startswith("text/html"):
            return response
        response.headers.setdefault("Cross-Origin-Resource-Policy", "same-origin")
        return super().process_response(request, response)
