"""Platform-level pages: readable CSRF failure and error pages.

None of them reads the request body or runs CSRF checks: Django's default ``bad_request``
is wrapped in ``requires_csrf_token``, which parses the body again, so a body that could not
be parsed the first time (a form posted in an unknown or invalid charset) turned the 400
into a 500.

The texts are translated when the page is made, in the request's language (tenants.locale).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from core.api.problems import is_api_path, problem_response
from core.outage import outage_response

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise


def _page(request: HttpRequest, status: int, title: StrOrPromise, message: StrOrPromise) -> HttpResponse:
    return render(request, "error.html", {"title": title, "message": message}, status=status)


def not_available(request: HttpRequest, message: StrOrPromise) -> HttpResponse:
    """A feature the tenant's policy turned off, as a readable page (403)."""
    return _page(request, 403, _("Not available here"), message)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """Explain a CSRF failure to a person instead of Django's debug page."""
    return _page(request, 403, _("This form has expired"),
                 _("Please go back, reload the page and try again. Cookies must be enabled for this site."))


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return problem_response(request, 400, code="bad_request", detail="The request could not be read.")
    return _page(request, 400, _("The request could not be read"),
                 _("Please go back and try again. If you sent a form, send it as UTF-8."))


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return problem_response(request, 403, code="permission_denied", detail="Not allowed.")
    return _page(request, 403, _("Not allowed"), _("You may not open this page."))


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if is_api_path(request.path):
        return problem_response(request, 404, code="not_found", detail="There is nothing at this address.")
    return _page(request, 404, _("Page not found"), _("There is nothing at this address."))


def server_error(request: HttpRequest) -> HttpResponse:
    # A backing service down (PostgreSQL restarting, ...) is a 503 with Retry-After (core.outage).
    if (outage := outage_response(request)) is not None:
        return outage
    if is_api_path(request.path):
        return problem_response(request, 500, code="server_error",
                                detail="Something went wrong; try again in a moment.")
    return _page(request, 500, _("Something went wrong"), _("Please try again in a moment."))
