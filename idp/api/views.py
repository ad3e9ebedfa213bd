"""The admin API's clients (/api/v1/clients/) and signing keys (/api/v1/keys/)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.responses import shown_once
from idp import rotation
from idp.api import serializers as s
from idp.models import Application, SigningKey
from idp.services import clients
from tenants.api.views import TenantAdminViewSet
from tenants.context import require_tenant


@extend_schema_view(
    list=extend_schema(summary="List the tenant's clients"),
    retrieve=extend_schema(summary="Read a client"),
)
class ClientViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, TenantAdminViewSet):
    """OAuth clients (relying parties) of the tenant."""

    model = Application
    serializer_class = s.ClientSerializer
    lookup_field = "client_id"
    filterset_class = s.ClientFilter
    ordering = "-pk"

    @extend_schema(summary="Register a client", request=s.ClientCreateSerializer,
                   responses={201: s.ClientWithSecretSerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = self.validated(s.ClientCreateSerializer, request.data)
        new = clients.create_client(
            name=data["name"], confidential=data["confidential"], grant_types=data["grant_types"],
            redirect_uris=data.get("redirect_uris", []), first_party=data.get("first_party", False),
            post_logout_redirect_uris=data.get("post_logout_redirect_uris", []),
            web_origins=data.get("web_origins", []), algorithm=data.get("algorithm", "RS256"),
            access_token_format=data.get("access_token_format", "opaque"),
            application_type=data.get("application_type", "web"), admin_scopes=data.get("admin_scopes", []),
            actor=self.actor)
        body = s.ClientWithSecretSerializer(new.application).data | {"client_secret": new.client_secret}
        return shown_once(body, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Change a client", request=s.ClientUpdateSerializer, responses={200: s.ClientSerializer})
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        application = self.get_object()
        changes = self.validated(s.ClientUpdateSerializer, request.data, partial=True)
        clients.update_client(application, actor=self.actor, **changes)
        return Response(s.ClientSerializer(application).data)

    @extend_schema(summary="Delete a client, its tokens and consents", request=None,
                   responses={204: OpenApiResponse(description="Deleted.")})
    def destroy(self, request: Request, **kwargs: Any) -> Response:
        clients.delete_client(self.get_object(), actor=self.actor)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(summary="Issue a new client secret (shown once; the old one stops working)", request=None,
                   responses={200: s.ClientSecretSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, **kwargs: Any) -> Response:
        application = self.get_object()
        if application.client_type != Application.CLIENT_CONFIDENTIAL:
            raise NotFound("A public client has no secret.")
        secret = clients.reissue_client_secret(application, actor=self.actor)
        return shown_once({"client_id": application.client_id, "client_secret": secret})


def _keys() -> list[SigningKey]:
    return list(SigningKey.objects.order_by("-created"))


@extend_schema_view(list=extend_schema(summary="List the signing keys with their state"))
class SigningKeyViewSet(mixins.ListModelMixin, TenantAdminViewSet):
    """The tenant's signing keys: next (published, not yet signing), active, retired, removed, revoked."""

    model = SigningKey
    serializer_class = s.SigningKeySerializer
    lookup_field = "kid"
    filterset_class = s.SigningKeyFilter
    pagination_class = None  # type: ignore[assignment]  # a handful per tenant

    def get_queryset(self) -> Any:
        return super().get_queryset().order_by("-created")

    @extend_schema(summary="Begin a rotation now: publish a next key for each algorithm (it signs after the "
                           "lead time)", request=None, responses={200: s.RotationSerializer})
    @action(detail=False, methods=["post"])
    def rotate(self, request: Request, **kwargs: Any) -> Response:
        report = rotation.rotate_current_tenant(require_tenant(), begin=True, actor=self.actor)
        return Response({"changes": report.changes, "tokens_revoked": report.tokens_revoked,
                         "keys": s.SigningKeySerializer(_keys(), many=True).data})

    @extend_schema(summary="Emergency rotation: this key is compromised (unpublished now, its tokens revoked)",
                   request=None, responses={200: s.RotationSerializer})
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, **kwargs: Any) -> Response:
        key = self.get_object()
        with transaction.atomic():
            report = rotation.revoke_key(require_tenant(), key.kid, actor=self.actor)
        return Response({"changes": report.changes, "tokens_revoked": report.tokens_revoked,
                         "keys": s.SigningKeySerializer(_keys(), many=True).data})
