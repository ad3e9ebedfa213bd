"""Per-tenant browser sessions.

Each tenant's session cookie is scoped to its path (/t/<slug>/), so one browser can be
signed in to two tenants at once, and every session is bound to the tenant that created
it: a session presented at another tenant is ignored (defence in depth behind the path).
"""

from __future__ import annotations

import time
from typing import cast

from django.conf import settings
from django.contrib.sessions.backends.base import VALID_KEY_CHARS, UpdateError
from django.contrib.sessions.backends.db import SessionStore as DatabaseSessionStore
from django.contrib.sessions.exceptions import SessionInterrupted
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_vary_headers
from django.utils.crypto import get_random_string
from django.utils.http import http_date

from tenants.context import require_tenant

SESSION_TENANT_KEY = "_tessera_tenant"


class SessionStore(DatabaseSessionStore):
    """Database sessions that belong to a tenant (SESSION_ENGINE = "tenants.sessions").

    On PostgreSQL the session table has a tenant_id filled from the transaction's tenant and
    row-level security (tenants.rls). A session can only be written for a tenant: saving one
    with no tenant in context raises TenantNotSet instead of failing at the database, where
    Django's create() would retry the refused INSERT forever.
    """

    def save(self, must_create: bool = False) -> None:
        require_tenant()
        super().save(must_create=must_create)

    def cycle_key(self) -> None:
        """The same data under a new key (at sign-in: no session fixation), written once.

        Django's cycle_key creates the new row at once (a SELECT for a collision, then an
        INSERT in a savepoint) and the response's save() updates it (in another savepoint):
        seven statements. Here the old row is deleted and the new one is created by that
        save(), which sees no key and calls create(): a fresh key, one INSERT."""
        data = self._session  # type: ignore[attr-defined]
        key = self.session_key
        self._session_key = None
        self._session_cache = data
        self.modified = True
        if key:
            self.delete(key)

    def _get_new_session_key(self) -> str:
        # No SELECT for a collision first: create() INSERTs with must_create, a taken key
        # raises CreateError, and create() draws another.
        return get_random_string(32, VALID_KEY_CHARS)


def session_cookie(request: HttpRequest) -> tuple[str, str]:
    """(cookie name, cookie path) for this request's session."""
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return f"{settings.SESSION_COOKIE_NAME}_platform", "/"
    return settings.SESSION_COOKIE_NAME, f"/t/{tenant.slug}/"


class TenantSessionMiddleware(SessionMiddleware):
    """Django's SessionMiddleware with a tenant-scoped cookie and a tenant-bound session."""

    def process_request(self, request: HttpRequest) -> None:
        name, _ = session_cookie(request)
        session = self.SessionStore(request.COOKIES.get(name))
        tenant = getattr(request, "tenant", None)
        bound = session.get(SESSION_TENANT_KEY)
        if tenant is not None and bound is not None and bound != tenant.pk:
            session = self.SessionStore(None)
        request.session = session

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        try:
            session = request.session
            accessed, modified, empty = session.accessed, session.modified, session.is_empty()
        except AttributeError:
            return response
        name, path = session_cookie(request)
        tenant = getattr(request, "tenant", None)
        if tenant is not None and not empty and session.get(SESSION_TENANT_KEY) != tenant.pk:
            session[SESSION_TENANT_KEY] = tenant.pk
            modified = True
        if name in request.COOKIES and empty:
            response.delete_cookie(
                name, path=path, domain=settings.SESSION_COOKIE_DOMAIN,
                samesite=settings.SESSION_COOKIE_SAMESITE,
            )
            need_vary = True
        else:
            need_vary = accessed
            if (modified or settings.SESSION_SAVE_EVERY_REQUEST) and not empty:
                if session.get_expire_at_browser_close():
                    max_age, expires = None, None
                else:
                    max_age = session.get_expiry_age()
                    expires = http_date(time.time() + max_age)
                if response.status_code < 500:
                    try:
                        session.save()
                    except UpdateError as exc:
                        raise SessionInterrupted(
                            "The session was deleted before the request completed."
                        ) from exc
                    response.set_cookie(
                        name, cast(str, session.session_key),  # set by save()
                        max_age=max_age, expires=expires,
                        domain=settings.SESSION_COOKIE_DOMAIN, path=path,
                        secure=settings.SESSION_COOKIE_SECURE,
                        httponly=settings.SESSION_COOKIE_HTTPONLY,
                        samesite=settings.SESSION_COOKIE_SAMESITE,
                    )
                    need_vary = True
        if need_vary:
            patch_vary_headers(response, ("Cookie",))
        return response
