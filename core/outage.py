"""A backing service down is a 503 with Retry-After, never a 500 (issue 15).

When PostgreSQL restarts, every request that was using a connection fails with
``OperationalError``/``InterfaceError``; before this, each became the 500 page. Those errors
(and Redis's or the Celery broker's, from the callers that must not degrade: core.cache,
rate limits) now answer 503 with ``Retry-After``, in the form the caller reads:

- the protocol endpoints a program calls (token, introspection, revocation, userinfo, JWKS,
  discovery): the OAuth error body ``{"error": "temporarily_unavailable", ...}``
  (RFC 6749 §4.1.2.1 names the code; a client retries);
- the admin API: a problem document (core.api.problems) with code ``temporarily_unavailable``;
- every other page: the readable error page, in the request's language.

Where: Django's 500 handler (core.views.server_error) asks ``outage_response`` first. That is
the one place every uncaught exception reaches, wherever it was raised: in a view, in
TenantMiddleware's tenant lookup before any view, or in the COMMIT of the request's
transaction as TenantMiddleware leaves it. A middleware could not do it: Django turns an
exception into a response at each middleware's boundary, so an outer middleware sees a 500
response, not the error. Nothing is half-written: the request's transaction (tenants.
middleware) rolls back on any status of 500 and above, 503 included, and a failed COMMIT
commits nothing.

Recovery needs no restart: Django closes a connection that failed at the end of its request,
so the next request reconnects (each dead persistent connection costs one 503). With
``DB_CONN_HEALTH_CHECKS=true`` each reused connection is checked first instead, at the price of a
round trip before every request.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING

import redis
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import translation
from django.utils.translation import gettext as _
from kombu.exceptions import OperationalError as BrokerError

from core.api.problems import is_api_path, problem_response

if TYPE_CHECKING:
    from collections.abc import Iterable

RETRY_AFTER_SECONDS = 5  # a PostgreSQL restart or a Redis failover takes a few seconds
DATABASE_ERRORS = (OperationalError, InterfaceError)
# Redis and the broker reach a request only from callers that must fail closed (core.cache).
SERVICE_ERRORS = (*DATABASE_ERRORS, redis.ConnectionError, redis.TimeoutError, BrokerError)
# Endpoints programs call (RFC 6749/7009/7662, OpenID Connect Core §5.3, discovery, JWKS).
PROTOCOL_PATH = re.compile(r"^/(?:t/[^/]+/+)?(?:token|introspect|revoke|userinfo|jwks\.json|\.well-known/.*)$")


def is_outage(exc: BaseException | None) -> bool:
    """Whether ``exc`` (or one it was raised ``from``) says a backing service is down. Only
    explicit causes count: a bug in code handling an outage error is still a bug (500)."""
    return any(isinstance(e, SERVICE_ERRORS) for e in _chain(exc))


def _chain(exc: BaseException | None) -> Iterable[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__


def unavailable_response(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After, in the caller's form (see the module docstring)."""
    response: HttpResponse
    if PROTOCOL_PATH.match(request.path):
        response = JsonResponse({"error": "temporarily_unavailable",
                                 "error_description": "The server cannot answer just now; try again shortly."},
                                status=503)
        response["Cache-Control"] = "no-store"
    elif is_api_path(request.path):
        response = problem_response(request, 503, code="temporarily_unavailable",
                                    detail="The server cannot answer just now; try again shortly.")
    else:
        # No query in making this page: context processors read only request.tenant, which
        # TenantMiddleware set before anything failed (or None). The failure may come before
        # the language middleware ran (the tenant lookup): the browser's language, as the
        # unknown-tenant page does.
        language = translation.get_language_from_request(request, check_path=False)
        with translation.override(language):
            response = render(request, "error.html", {
                "title": _("Temporarily unavailable"),
                "message": _("The service cannot answer just now. Please try again in a minute."),
            }, status=503)
        response["Content-Language"] = language
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def outage_response(request: HttpRequest) -> HttpResponse | None:
    """For Django's 500 handler: the 503 answer when the exception being handled is an
    outage of a backing service, else None."""
    return unavailable_response(request) if is_outage(sys.exc_info()[1]) else None
