"""The platform API (/api/v1/tenants/, platform staff): tenants, their first admin, their usage.

Lives in accounts because creating a tenant's first admin needs accounts and the usage needs
audit (tenants may import neither); settings/urls.py routes /api/v1/tenants/ here. Requests
run as the platform tenant (tenants.middleware), so the bearer token is one of the platform
tenant's own; ``PlatformStaff`` lets only its admins (or its admin clients) in. Every touch of
another tenant goes through the platform door and is audited in that tenant's trail.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import django_filters
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.validators import RegexValidator
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.onboarding import create_tenant_with_admin
from audit.usage import MAX_DAYS, TenantUsage, tenant_usage
from core.api.responses import shown_once
from tenants.api.views import PlatformViewSet
from tenants.models import SLUG_RE, AdminRole, Tenant
from tenants.services import deactivate_tenant, reactivate_tenant

DEFAULT_USAGE_DAYS = 30
EARLIEST, LATEST = date(2000, 1, 1), date(9998, 12, 31)


class TenantSerializer(serializers.ModelSerializer):
    """A tenant as platform staff see it (its issuer is {PUBLIC_URL}/t/<slug>)."""

    class Meta:
        model = Tenant
        fields = ["slug", "name", "display_name", "is_active", "created"]
        read_only_fields = fields


class FirstAdminSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[UnicodeUsernameValidator()])
    email = serializers.EmailField(max_length=254)


class TenantCreateSerializer(serializers.Serializer):
    slug = serializers.CharField(max_length=63, validators=[RegexValidator(SLUG_RE, "Lower-case letters, digits "
                                                                                    "and inner hyphens only.")],
                                 help_text="Appears in every URL of the tenant: /t/<slug>/.")
    name = serializers.CharField(max_length=200)
    first_admin = FirstAdminSerializer(help_text="The tenant's first user, a full admin with no password yet.")


class AdminSerializer(serializers.Serializer):
    uid = serializers.UUIDField(read_only=True, help_text="The user's public id (their OpenID sub).")
    username = serializers.CharField(read_only=True)
    email = serializers.EmailField(read_only=True)
    admin_role = serializers.ChoiceField(choices=AdminRole.choices, read_only=True)


class TenantCreatedSerializer(TenantSerializer):
    """The new tenant, its first admin and the admin's password-set link: shown once."""

    first_admin = AdminSerializer(read_only=True)
    password_link = serializers.URLField(
        read_only=True, help_text="One-time link at the new tenant where the first admin sets a password; "
                                  "shown only here, works once, until password_link_expires. Hand it over "
                                  "privately. Afterwards, the tenant's own 'forgot password' page sends a new one.")
    password_link_expires = serializers.DateTimeField(read_only=True)

    class Meta(TenantSerializer.Meta):
        fields = [*TenantSerializer.Meta.fields, "first_admin", "password_link", "password_link_expires"]
        read_only_fields = fields


class TenantFilter(django_filters.FilterSet):
    is_active = django_filters.BooleanFilter()
    slug = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the slug.")
    name = django_filters.CharFilter(lookup_expr="icontains", help_text="Part of the name, any case.")


class TokenCountsSerializer(serializers.Serializer):
    """Tokens issued per grant type; other grants (the device code) appear as keys when they occur."""

    authorization_code = serializers.IntegerField()
    refresh_token = serializers.IntegerField()
    client_credentials = serializers.IntegerField()

    def to_representation(self, instance: Any) -> Any:
        return dict(instance)


class DayUsageSerializer(serializers.Serializer):
    day = serializers.DateField()
    sign_ins_succeeded = serializers.IntegerField()
    sign_ins_failed = serializers.IntegerField()
    active_users = serializers.IntegerField(help_text="Distinct users with a sign-in or a token issued or "
                                                      "refreshed for them that day.")
    tokens = TokenCountsSerializer()


class MonthUsageSerializer(serializers.Serializer):
    month = serializers.CharField(help_text="YYYY-MM (UTC).")
    first_day = serializers.DateField(help_text="First day of the month counted (the range may begin later).")
    last_day = serializers.DateField(help_text="Last day of the month counted (the range may end earlier).")
    active_users = serializers.IntegerField(help_text="Distinct users with a sign-in or a token issued or "
                                                      "refreshed for them on the days counted.")


class TotalsSerializer(serializers.Serializer):
    sign_ins_succeeded = serializers.IntegerField()
    sign_ins_failed = serializers.IntegerField()
    tokens = TokenCountsSerializer()


class UsageSerializer(serializers.Serializer):
    """Usage counted from the tenant's audit trail (audit.usage), by UTC day and month."""

    tenant = serializers.CharField(source="tenant.slug")
    first_day = serializers.DateField()
    last_day = serializers.DateField()
    days = DayUsageSerializer(many=True)
    monthly_active_users = MonthUsageSerializer(many=True, source="months")
    totals = TotalsSerializer()


USAGE_PARAMETERS = [
    OpenApiParameter("from", OpenApiTypes.DATE, description=f"First day, YYYY-MM-DD (UTC). Default: "
                                                            f"{DEFAULT_USAGE_DAYS - 1} days before `to`."),
    OpenApiParameter("to", OpenApiTypes.DATE, description="Last day, YYYY-MM-DD (UTC), inclusive. Default: today."),
]
SLUG_PARAMETER = OpenApiParameter("slug", OpenApiTypes.STR, OpenApiParameter.PATH, description="The tenant's slug.")


@extend_schema_view(
    list=extend_schema(summary="List the tenants", responses={200: TenantSerializer(many=True)}),
    retrieve=extend_schema(summary="Read a tenant", parameters=[SLUG_PARAMETER], responses={200: TenantSerializer}),
)
class TenantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, PlatformViewSet):
    """The tenants of this deployment (platform staff only)."""

    model = Tenant
    serializer_class = TenantSerializer
    filterset_class = TenantFilter
    lookup_field = "slug"

    def get_queryset(self) -> Any:
        return Tenant.objects.all()  # not tenant-owned: the platform's own list

    @extend_schema(summary="Create a tenant with its first admin (a one-time password-set link is returned once)",
                   request=TenantCreateSerializer, responses={201: TenantCreatedSerializer})
    def create(self, request: Request, **kwargs: Any) -> Response:
        data = self.validated(TenantCreateSerializer, request.data)
        new = create_tenant_with_admin(
            data["slug"], data["name"], admin_username=data["first_admin"]["username"],
            admin_email=data["first_admin"]["email"], actor=self.actor, base_url=request.build_absolute_uri("/"))
        body = TenantSerializer(new.tenant).data | {
            "first_admin": AdminSerializer(new.admin).data, "password_link": new.password_link,
            "password_link_expires": serializers.DateTimeField().to_representation(new.password_link_expires)}
        return shown_once(body, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Deactivate a tenant: all its URLs answer 404, its sessions and tokens are refused "
                           "(nothing is deleted); not the platform tenant", parameters=[SLUG_PARAMETER],
                   request=None, responses={200: TenantSerializer})
    @action(detail=True, methods=["post"])
    def deactivate(self, request: Request, **kwargs: Any) -> Response:
        tenant = deactivate_tenant(self._tenant(), actor=self.actor, reason="deactivated through the platform API")
        return Response(TenantSerializer(tenant).data)

    @extend_schema(summary="Reactivate a tenant: served again as it was", parameters=[SLUG_PARAMETER],
                   request=None, responses={200: TenantSerializer})
    @action(detail=True, methods=["post"])
    def reactivate(self, request: Request, **kwargs: Any) -> Response:
        tenant = reactivate_tenant(self._tenant(), actor=self.actor, reason="reactivated through the platform API")
        return Response(TenantSerializer(tenant).data)

    @extend_schema(summary=f"A tenant's usage per UTC day and month (at most {MAX_DAYS} days; default the last "
                           f"{DEFAULT_USAGE_DAYS})", parameters=[SLUG_PARAMETER, *USAGE_PARAMETERS],
                   responses={200: UsageSerializer})
    @action(detail=True, methods=["get"])
    def usage(self, request: Request, **kwargs: Any) -> Response:
        tenant = self._tenant()
        last_day = _date_param(request, "to") or timezone.now().date()
        first_day = _date_param(request, "from") or last_day - timedelta(days=DEFAULT_USAGE_DAYS - 1)
        if first_day > last_day:
            raise ValidationError({"from": "The range ends before it begins."})
        if (last_day - first_day).days + 1 > MAX_DAYS:
            raise ValidationError({"from": f"The range is longer than {MAX_DAYS} days."})
        report: TenantUsage = tenant_usage(tenant, first_day=first_day, last_day=last_day, actor=self.actor)
        return Response(UsageSerializer(report).data)

    def _tenant(self) -> Tenant:
        return get_object_or_404(Tenant, slug=self.kwargs["slug"])


def _date_param(request: Request, name: str) -> date | None:
    value = request.query_params.get(name)
    if not value:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise ValidationError({name: "A date as YYYY-MM-DD."}) from None
    if not EARLIEST <= day <= LATEST:  # far from any event, and from date arithmetic's limits
        raise ValidationError({name: f"A date from {EARLIEST.isoformat()} to {LATEST.isoformat()}."})
    return day
