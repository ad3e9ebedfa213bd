"""A CSRF cookie per tenant, like the session cookie.

Django's CSRF cookie has one name and one path for the whole site: signing in at one tenant
rotated the token that another tenant's sign-in form, open in another tab, had been given
("This form has expired"), and ``csrftoken`` on ``/`` collided with the relying party's own
when both ran on one host. Here it is ``tessera_csrf`` (CSRF_COOKIE_NAME), scoped to
``/t/<slug>/``, so each tenant's forms carry their own token.
"""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.middleware.csrf import CsrfViewMiddleware
from django.utils.cache import patch_vary_headers

from tenants.sessions import session_cookie


class TenantCsrfViewMiddleware(CsrfViewMiddleware):
    """Django's CSRF middleware, setting its cookie on the tenant's path.

    Views decorated with Django's own ``csrf_protect`` (ours, and the admin's) set the cookie
    through Django's class, with the site-wide path; ``process_response`` moves it onto the
    tenant's path before it leaves.
    """

    def process_response(self, request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
        response = super().process_response(request, response)
        cookie = response.cookies.get(settings.CSRF_COOKIE_NAME)
        if cookie is not None and cookie.value:
            cookie["path"] = session_cookie(request)[1]
        return response

    def _set_csrf_cookie(self, request: HttpRequest, response: HttpResponseBase) -> None:
        _name, path = session_cookie(request)
        response.set_cookie(
            settings.CSRF_COOKIE_NAME, request.META["CSRF_COOKIE"], max_age=settings.CSRF_COOKIE_AGE,
            domain=settings.CSRF_COOKIE_DOMAIN, path=path, secure=settings.CSRF_COOKIE_SECURE,
            httponly=settings.CSRF_COOKIE_HTTPONLY, samesite=settings.CSRF_COOKIE_SAMESITE,
        )
        patch_vary_headers(response, ("Cookie",))
