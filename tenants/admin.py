"""Tenant admin: the security policy (every tenant) and the tenants (platform staff only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from tenants.admin_site import TenantModelAdmin, actor_of, is_platform_staff, site
from tenants.models import SecurityPolicy, Tenant
from tenants.services import deactivate_tenant, policy_for, reactivate_tenant, update_policy


@admin.register(SecurityPolicy, site=site)
class SecurityPolicyAdmin(TenantModelAdmin):
    """The tenant's one security policy: changed (full admins) through ``update_policy``,
    which validates and audits the change; never added or deleted."""

    allow_change = True
    readonly_fields = ("updated",)
    fieldsets = (
        ("Second factors", {"fields": ("mfa", "allow_totp", "allow_passkeys", "allow_recovery_codes",
                                       "allow_passwordless", "passkey_rp_id")}),
        ("Sessions and passwords", {"fields": ("session_idle_timeout", "session_absolute_timeout",
                                               "password_min_length")}),
        ("Brute force and risk", {"fields": ("lockout_failure_limit", "lockout_cooloff", "ip_failure_limit",
                                             "risk_step_up_threshold")}),
        ("Rate limits", {"fields": ("ratelimit_window", "ratelimit_signin_per_ip", "ratelimit_signin_per_account",
                                    "ratelimit_recovery_per_ip", "ratelimit_recovery_per_account",
                                    "ratelimit_client_requests", "ratelimit_client_failures_per_ip",
                                    "ratelimit_api_per_token")}),
        ("Accounts", {"fields": ("allow_self_registration", "require_verified_email")}),
        ("Signing keys and audit", {"fields": ("signing_algorithms", "key_rotation_days",
                                               "audit_retention_days", "updated")}),
    )

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        """One policy per tenant: straight to it."""
        policy = policy_for(request.tenant)  # type: ignore[attr-defined]
        return HttpResponseRedirect(reverse("admin:tenants_securitypolicy_change", args=[policy.pk],
                                            current_app=self.admin_site.name))

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        fields = {name: form.cleaned_data[name] for name in form.changed_data}
        if fields:
            update_policy(request.tenant, actor=actor_of(request), **fields)  # type: ignore[attr-defined]

    def audit_target(self, obj: Any) -> str | None:
        return str(obj.tenant.slug)


@admin.register(Tenant, site=site)
class TenantAdmin(TenantModelAdmin):
    """Every tenant of the deployment: shown only in the platform tenant's admin, to its
    admins (platform staff). Deactivation and reactivation go through tenants.services, which
    records them in the affected tenant's own trail through the platform door."""

    allow_actions = True
    list_display = ("slug", "name", "is_active", "created")
    list_filter = ("is_active",)
    search_fields = ("slug", "name")
    readonly_fields = ("slug", "name", "display_name", "is_active", "created")
    fields = readonly_fields
    actions = ("deactivate", "reactivate")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Tenant]:
        # Tenant is the one model above the tenants: its manager is not scoped.
        return super().get_queryset(request) if is_platform_staff(request) else Tenant.objects.none()

    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_platform_staff(request)

    def has_view_permission(self, request: HttpRequest, obj: Model | None = None) -> bool:
        return is_platform_staff(request)

    def has_act_permission(self, request: HttpRequest) -> bool:
        return is_platform_staff(request) and super().has_act_permission(request)

    def audit_target(self, obj: Any) -> str | None:
        return None  # its events are in its own trail, not the platform's

    @admin.action(description="Deactivate the selected tenants (their URLs answer 404; nothing deleted)",
                 permissions=["act"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        self.act_on_each(request, queryset, deactivate_tenant, "deactivated", _slug)

    @admin.action(description="Reactivate the selected tenants", permissions=["act"])
    def reactivate(self, request: HttpRequest, queryset: QuerySet[Tenant]) -> None:
        self.act_on_each(request, queryset, reactivate_tenant, "reactivated", _slug)


def _slug(tenant: Tenant) -> str:
    return tenant.slug
