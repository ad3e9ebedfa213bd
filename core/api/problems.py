"""RFC 9457 problem details for every error the admin API gives.

Our own exception handler rather than drf-standardized-errors: that package's formatter
emits its own shape (``type``/``errors`` with ``attr``) and needs an adapter to reach RFC
9457 anyway, while the whole mapping is the forty lines below (decisions.md, 55).

A problem: ``type`` (a URN naming the kind of problem), ``title``, ``status``, ``detail``,
``instance`` (the request path), plus ``code`` (a stable machine-readable word), ``errors``
(field by field, for validation problems) and ``request_id`` (the same id as the request's
audit events and ``X-Request-ID``).
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:tessera:problem:"


def problem(status_code: int, *, code: str, detail: str, request: HttpRequest | None = None,
            **extensions: Any) -> dict[str, Any]:
    """The problem-details object for ``status_code``."""
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + code.replace("_", "-"),
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
    }
    if request is not None:
        body["instance"] = request.path
        request_id = getattr(request, "request_id", "") or request.META.get("HTTP_X_REQUEST_ID", "")
        if request_id:
            body["request_id"] = request_id
    body.update(extensions)
    return body


def _field_errors(detail: Any, prefix: str = "") -> list[dict[str, str]]:
    """DRF's nested validation detail, flattened to [{field, code, detail}] (``field`` is a
    dotted path; errors not tied to one field have ``field`` "non_field_errors")."""
    if isinstance(detail, dict):
        return [e for key, value in detail.items() for e in _field_errors(value, f"{prefix}{key}.")]
    if isinstance(detail, list):
        if all(isinstance(item, exceptions.ErrorDetail) for item in detail):
            field = prefix.rstrip(".") or "non_field_errors"
            return [{"field": field, "code": item.code or "invalid", "detail": str(item)} for item in detail]
        return [e for i, value in enumerate(detail) for e in _field_errors(value, f"{prefix}{i}.")]
    field = prefix.rstrip(".") or "non_field_errors"
    return [{"field": field, "code": getattr(detail, "code", None) or "invalid", "detail": str(detail)}]


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """REST_FRAMEWORK["EXCEPTION_HANDLER"]: every API error as problem details."""
    request = context.get("request")
    if isinstance(exc, DjangoValidationError):  # a service refusing a combination of values
        exc = exceptions.ValidationError(exc.message_dict if hasattr(exc, "error_dict")
                                         else {"non_field_errors": exc.messages})
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    if not isinstance(exc, exceptions.APIException):
        return None  # a bug: Django's 500 handling (core.views.server_error answers in kind)
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    if isinstance(exc, exceptions.ValidationError):
        errors = _field_errors(exc.detail)
        fields = ", ".join(sorted({e["field"] for e in errors}))
        body = problem(status.HTTP_400_BAD_REQUEST, code="validation_error",
                       detail=f"The request has invalid fields: {fields}.", request=request, errors=errors)
    else:
        detail = exc.detail
        text = str(detail if not isinstance(detail, (list, dict)) else exc.default_detail)
        code = detail.code if isinstance(detail, exceptions.ErrorDetail) and detail.code else exc.default_code
        body = problem(exc.status_code, code=str(code), detail=text, request=request)
    set_rollback()
    response = Response(body, status=body["status"], headers=headers)
    renderer = getattr(request, "accepted_renderer", None)
    if renderer is None or getattr(renderer, "format", "json") in ("json", "jsonl"):
        response.content_type = PROBLEM_JSON
    return response


def problem_response(request: HttpRequest, status_code: int, *, code: str, detail: str) -> JsonResponse:
    """A problem outside DRF's views (the 404 and 500 handlers for /api/ paths)."""
    return JsonResponse(problem(status_code, code=code, detail=detail, request=request), status=status_code,
                        content_type=PROBLEM_JSON)


def is_api_path(path: str) -> bool:
    """A path of the admin API (``/api/...`` or ``/t/<slug>/api/...``)."""
    return path.startswith("/api/") or (path.startswith("/t/") and "/api/" in path)
