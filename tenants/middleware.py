"""Resolve the tenant from the URL and run the request inside its tenant context."""

from __future__ import annotations

import re
from collections.abc import Callable

import psycopg
from django.db import DatabaseError, InterfaceError, InternalError, OperationalError, connection, transaction
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import translation
from django.utils.translation import gettext as _

from core.api.problems import is_api_path, problem_response
from core.conf import tessera_settings
from core.lookup_cache import LookupCache
from tenants.context import tenant_context
from tenants.locale import say_language
from tenants.models import SLUG_RE, Tenant

active_tenants = LookupCache(max_entries=1024)


def active_tenant(slug: str) -> Tenant | None:
    """The active tenant with this slug (cached; see core.lookup_cache)."""
    return active_tenants.get_or_load(slug, lambda: Tenant.objects.filter(slug=slug, is_active=True).first())

# /t/<slug>/... and the RFC 8414 form /.well-known/oauth-authorization-server/t/<slug>
TENANT_PATH = re.compile(r"^/t/(?P<slug>[^/]+)(?:/|$)")
WELL_KNOWN_PATH = re.compile(
    r"^/\.well-known/(?:oauth-authorization-server|openid-configuration)/t/(?P<slug>[^/]+)/?$"
)


# The public documents (JWKS, discovery), read from caches: no request transaction is opened
# for them. A statement on a cache miss runs in a short transaction of its own (tenants.db).
CACHED_DOCUMENT_PATH = re.compile(
    r"^/t/[^/]+/(?:jwks\.json|/?\.well-known/(?:openid-configuration|oauth-authorization-server))$"
    r"|^/\.well-known/(?:oauth-authorization-server|openid-configuration)/t/[^/]+/?$"
)

# Django admin of a tenant (tenants.admin_site): served from a URLconf of its own per tenant.
TENANT_ADMIN_PATH = re.compile(r"^/t/[^/]+/admin(?:/|$)")

# The platform API acts as the platform tenant: its tokens come from that tenant's issuer.
PLATFORM_API_PATH = re.compile(r"^/api/v1/tenants(?:/|$)")


def tenant_slug_from_path(path: str) -> str | None:
    """The tenant slug a request path addresses, or None for platform-level paths."""
    match = TENANT_PATH.match(path) or WELL_KNOWN_PATH.match(path)
    if match:
        return match.group("slug")
    return tessera_settings.PLATFORM_TENANT if PLATFORM_API_PATH.match(path) else None


class TenantMiddleware:
    """Sets ``request.tenant`` and the tenant context, and runs the request in a transaction.

    Unknown or inactive tenants get 404. Responses of 500 and above roll the transaction back
    (Django turns view exceptions into 500 responses before they reach this middleware).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        slug = tenant_slug_from_path(request.path_info)
        request.tenant = None  # type: ignore[attr-defined]
        if slug is None:
            return self.get_response(request)
        tenant = active_tenant(slug) if re.fullmatch(SLUG_RE, slug) else None
        if tenant is None and is_api_path(request.path_info):
            return problem_response(request, 404, code="unknown_tenant",
                                    detail="No active organisation is served at this address.")
        if tenant is None:
            # Before the language middleware (no tenant, no session): the browser's language.
            language = translation.get_language_from_request(request, check_path=False)
            with translation.override(language):
                page = TemplateResponse(
                    request, "error.html",
                    {"title": _("Unknown organisation"),
                     "message": _("No active organisation is served at this address.")},
                    status=404,
                ).render()
            return say_language(page, language)
        request.tenant = tenant  # type: ignore[attr-defined]
        if TENANT_ADMIN_PATH.match(request.path_info):
            from tenants.admin_site import urlconf_for

            # Django admin reverses its URLs without arguments: this request's URLconf
            # mounts it at this tenant's own prefix (and the project's URLs after it).
            request.urlconf = urlconf_for(tenant.slug)  # type: ignore[attr-defined]
        if request.method in ("GET", "HEAD") and CACHED_DOCUMENT_PATH.match(request.path_info):
            with tenant_context(tenant, base_url=request.build_absolute_uri("/")):
                return self.get_response(request)
        # One transaction per tenant request: app.tenant_id is set once, at its first
        # statement (tenants.db), and a failed request leaves nothing half-written.
        try:
            with tenant_context(tenant, base_url=request.build_absolute_uri("/")), transaction.atomic():
                response = self.get_response(request)
                if response.status_code >= 500:
                    transaction.set_rollback(True)
                return response
        except DatabaseError as exc:
            if (lost := _lost_at_commit(exc)) is None:
                raise
            raise lost from exc


def _lost_at_commit(exc: DatabaseError) -> OperationalError | None:
    """The request's COMMIT failed (the one statement that can raise here: the view's errors
    are responses by now): an OperationalError to raise from it when the connection to the
    database failed and psycopg did not say so, else None (raise it as it is: a 500).

    Through pgbouncer, while PostgreSQL goes down or comes back, a COMMIT can be answered with
    more than one result (the server's FATAL, then pgbouncer's own error). psycopg reports that
    as InternalError ("received 2 results from command 'COMMIT'") with no SQLSTATE: no server
    said it, the protocol on the connection did. A COMMIT the database refused carries the
    server's SQLSTATE (a deferred constraint, a serialization failure) and stays what it is.
    The same holds when the connection no longer answers at all: Django dropped it because even
    the ROLLBACK after the COMMIT failed, or one ``SELECT 1`` (on this error path only) fails.
    """
    if isinstance(exc, (OperationalError, InterfaceError)):
        return None
    cause = exc.__cause__
    if isinstance(exc, InternalError) and isinstance(cause, psycopg.InternalError) and cause.sqlstate is None:
        return OperationalError(f"the database connection failed at COMMIT ({exc})")
    if connection.connection is not None and connection.is_usable():
        return None
    return OperationalError(f"the database connection was lost at COMMIT ({exc})")
