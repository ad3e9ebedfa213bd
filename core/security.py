"""Response headers for pages."""

from __future__ import annotations

from typing import Any

from csp.middleware import CSPMiddleware
from django.conf import settings
from django.core.checks import CheckMessage, Error
from django.http import HttpRequest, HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.module_loading import import_string


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


def check_csrf_middleware(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Django's security.W003 looks for CsrfViewMiddleware by name; ours is a subclass
    (tenants.csrf.TenantCsrfViewMiddleware: the cookie on the tenant's path, every check
    Django's), so production silences W003 and asks this instead: is some CSRF middleware, the
    class or a subclass, in MIDDLEWARE at all? An Error: without it every form is forgeable."""
    for path in settings.MIDDLEWARE:
        try:
            middleware = import_string(path)
        except ImportError:
            continue  # Django itself reports a middleware that does not import
        if isinstance(middleware, type) and issubclass(middleware, CsrfViewMiddleware):
            return []
    return [Error("No CSRF middleware in MIDDLEWARE: every form would be forgeable.",
                  hint="Keep tenants.csrf.TenantCsrfViewMiddleware (a CsrfViewMiddleware) in MIDDLEWARE.",
                  id="tessera.E010")]
