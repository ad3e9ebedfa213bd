"""Request metadata for audit events: client IP, user agent, request id, device cookie."""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction
from django.http import HttpRequest, HttpResponse

from audit.context import DEVICE_COOKIE, RequestInfo, device_hash, request_id_from, request_info
from audit.recording import chained_at_commit, flush


class RequestContextMiddleware:
    """Binds a RequestInfo to the request (``request.request_id``) and echoes X-Request-ID.

    The IP is REMOTE_ADDR: behind a reverse proxy, the proxy must set it (for example
    gunicorn's --forwarded-allow-ips with a proxy-protocol-aware front end).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        meta = request.META
        info = RequestInfo(
            ip=meta.get("REMOTE_ADDR", "")[:45],
            user_agent=meta.get("HTTP_USER_AGENT", "")[:512],
            request_id=request_id_from(meta.get("HTTP_X_REQUEST_ID")),
            device=device_hash(request.COOKIES.get(DEVICE_COOKIE)),
        )
        request.request_id = info.request_id  # type: ignore[attr-defined]
        with request_info(info):
            response = self.get_response(request)
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
