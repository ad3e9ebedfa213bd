"""The tenant's audit trail in the tenant admin: read-only, for every admin role, always; and
its webhook subscriptions and deliveries, shown (their changes, with the secret shown once, go
through the admin API: audit.webhooks)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent, WebhookDelivery, WebhookSubscription
from tenants.admin_site import TenantModelAdmin, site


@admin.register(AuditEvent, site=site)
class AuditEventAdmin(TenantModelAdmin):
    """Audit events, newest first. Nobody adds, changes or deletes one here (the database
    refuses it too); "history" on a user, client or key lands here filtered by its target."""

    list_display = ("seq", "occurred", "action", "outcome", "actor_summary", "subject", "target_type", "target_id",
                    "ip")
    list_filter = ("action", "outcome", "actor_type", "target_type")
    search_fields = ("subject", "actor_id", "target_id", "ip", "request_id")
    ordering = ("-seq",)
    list_per_page = 50
    fields = ("seq", "occurred", "action", "outcome", "actor_type", "actor_id", "actor", "subject", "target_type",
              "target_id", "ip", "user_agent", "request_id", "device", "risk_score", "risk_reasons", "details",
              "prev_hash", "hash")
    readonly_fields = fields

    @admin.display(description="Actor")
    def actor_summary(self, event: AuditEvent) -> str:
        snapshot = event.actor or {}
        return str(snapshot.get("username") or snapshot.get("client_id") or snapshot.get("name") or event.actor_type)

    extra_lookups = ("target_id", "target_type")  # the other admins' "history" links filter by target

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookSubscription, site=site)
class WebhookSubscriptionAdmin(TenantModelAdmin):
    """Subscriptions, view only here; the signing secret (sealed) is never shown."""

    list_display = ("url", "description", "is_active", "created", "updated")
    list_filter = ("is_active",)
    search_fields = ("url", "description")
    fields = ("url", "description", "actions", "is_active", "created", "updated")
    readonly_fields = fields

    def audit_target(self, obj: Any) -> str | None:
        return str(obj.pk)


@admin.register(WebhookDelivery, site=site)
class WebhookDeliveryAdmin(TenantModelAdmin):
    """Deliveries and their attempts, newest first, view only."""

    list_display = ("created", "subscription", "seq", "action", "status", "attempts", "last_status_code",
                    "delivered_at")
    list_filter = ("status",)
    search_fields = ("action",)
    ordering = ("-created",)
    list_select_related = ("subscription",)
    fields = ("subscription", "seq", "action", "status", "attempts", "next_attempt_at", "last_status_code",
              "last_error", "created", "delivered_at", "payload")
    readonly_fields = fields
