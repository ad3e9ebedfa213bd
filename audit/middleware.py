"""Request metadata for audit events: client IP, user agent, request id, device cookie."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse
from django.utils.log import log_response

from audit.context import DEVICE_COOKIE, RequestInfo, device_hash, request_id_from, request_info
from audit.recording import chained_at_commit, flush
from core.client_ip import client_ip


class RequestContextMiddleware:
    """Binds a RequestInfo to the request (``request.request_id``) and echoes X-Request-ID.

    The IP follows the trusted-proxy rule (core.client_ip: REMOTE_ADDR unless
    TESSERA_TRUSTED_PROXY_COUNT says how many proxies append to X-Forwarded-For). Log lines of
    the request carry its request id through the same context (core.logging).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        info = RequestInfo(
            ip=client_ip(meta),
            user_agent=meta.get("HTTP_USER_AGENT", "")[:512],
            request_id=request_id_from(meta.get("HTTP_X_REQUEST_ID")),
            device=device_hash(request.COOKIES.get(DEVICE_COOKIE)),
            memo={},
        )
        request.request_id = info.request_id  # type: ignore[attr-defined]
        with request_info(info):
            response = self.get_response(request)
            if response.status_code >= 400 and not getattr(response, "_has_been_logged", False):
                # Django logs 4xx/5xx responses after the whole middleware chain, outside this
                # context: logged here instead, the line carries the request id (Django then
                # skips it: _has_been_logged, as django.core.handlers.base does).
                log_response("%s: %s", response.reason_phrase, request.path, response=response, request=request)
        response["X-Request-ID"] = info.request_id
        return response


class AuditChainMiddleware:
    """Chains the request's audit events as its transaction's last statement.

    Sits right after TenantMiddleware (inside the request's transaction, outside everything
    that writes), see audit.recording.chained_at_commit.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with chained_at_commit():
            response = self.get_response(request)
            if response.status_code < 500 and connection.in_atomic_block and not transaction.get_rollback():
                flush(commit=True)
        return response
