"""The admin API's security policy (/api/v1/policy/): read it, change it."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from tenants.api.views import TenantAdminViewSet
from tenants.context import require_tenant
from tenants.models import SecurityPolicy
from tenants.services import POLICY_FIELDS, policy_for, update_policy


class PolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = SecurityPolicy
        fields = [*sorted(POLICY_FIELDS), "updated"]
        read_only_fields = ["updated"]


class PolicyViewSet(TenantAdminViewSet):
    """How the tenant's people authenticate, its signing keys' algorithms and rotation, and
    its audit retention. A change applies from the next sign-in (or the next job run) on."""

    model = SecurityPolicy
    serializer_class = PolicySerializer
    pagination_class = None  # type: ignore[assignment]

    @extend_schema(summary="Read the security policy", responses={200: PolicySerializer})
    def retrieve(self, request: Request, **kwargs: Any) -> Response:
        return Response(PolicySerializer(policy_for(require_tenant())).data)

    @extend_schema(summary="Change the security policy (only the fields given)", request=PolicySerializer,
                   responses={200: PolicySerializer})
    def partial_update(self, request: Request, **kwargs: Any) -> Response:
        tenant = require_tenant()
        serializer = PolicySerializer(policy_for(tenant), data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        policy = update_policy(tenant, actor=self.actor, **serializer.validated_data)
        return Response(PolicySerializer(policy).data)
