"""The base of every admin API view: authentication, permission, throttle, tenant-scoped queries."""

from __future__ import annotations

from typing import Any, ClassVar

from django.db import models
from oauth2_provider.contrib.rest_framework import OAuth2Authentication
from rest_framework import viewsets
from rest_framework.authentication import SessionAuthentication

from core.actors import Actor, client_actor, user_actor
from core.api.pagination import Cursor
from core.api.problems import exception_handler
from core.api.throttling import PerClientThrottle
from core.ratelimit import Rate
from tenants.api import schema  # noqa: F401  (registers the bearer scheme with drf-spectacular)
from tenants.api.permissions import PlatformStaff, TenantAdmin
from tenants.context import require_tenant
from tenants.services import policy_for


class BearerAuthentication(OAuth2Authentication):
    """django-oauth-toolkit's DRF authentication: the tenant's own access tokens, opaque or JWT."""

    www_authenticate_realm = "tessera-admin-api"


def api_actor(request: Any) -> Actor:
    """Who is acting: the person behind a token or session, else the client acting for itself."""
    user = request.user if getattr(request.user, "is_authenticated", False) else None
    if user is not None:
        return user_actor(user)
    return client_actor(request.auth.application)


class TenantAdminViewSet(viewsets.GenericViewSet):
    """A viewset of the tenant's admin API. ``model``'s scoped manager is the only way in:
    querysets are filtered by the tenant in context (and by RLS in PostgreSQL)."""

    model: ClassVar[type[models.Model]]
    authentication_classes = [BearerAuthentication, SessionAuthentication]
    permission_classes = [TenantAdmin]
    throttle_classes = [PerClientThrottle]
    pagination_class = Cursor
    lookup_value_regex = "[^/]+"

    def get_exception_handler(self) -> Any:
        return exception_handler  # problem details here only (not in the passkey ceremonies)

    def get_queryset(self) -> Any:
        if getattr(self, "swagger_fake_view", False):  # drf-spectacular reading the schema: no tenant
            return self.model._base_manager.none()
        return self.model.objects.all()  # type: ignore[attr-defined]

    @property
    def actor(self) -> Actor:
        return api_actor(self.request)

    def rate_limit(self) -> Rate:
        """Requests per token and window (PerClientThrottle): the tenant's security policy."""
        return policy_for(require_tenant()).rate("api_per_token")

    def validated(self, serializer_class: Any, data: Any, **kwargs: Any) -> dict[str, Any]:
        """``data`` checked by ``serializer_class`` (a 400 problem naming the fields otherwise)."""
        serializer = serializer_class(data=data, **kwargs)
        serializer.is_valid(raise_exception=True)
        return dict(serializer.validated_data)


class PlatformViewSet(TenantAdminViewSet):
    """A viewset of the platform API, at the platform tenant (/api/v1/tenants/)."""

    permission_classes = [PlatformStaff]
