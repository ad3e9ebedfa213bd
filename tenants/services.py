"""Tenant services: creating tenants, deactivating and reactivating them, their security policy."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from core.actors import Actor
from core.lookup_cache import LookupCache
from tenants.context import tenant_context
from tenants.models import SecurityPolicy, Tenant
from tenants.signals import policy_changed, tenant_created, tenant_updated


def create_tenant(slug: str, name: str, *, actor: Actor | None = None) -> Tenant:
    """Create an active tenant; raises ValidationError on a bad or taken slug.

    ``tenant_created`` is sent inside the new tenant's context and the same transaction:
    audit starts the tenant's chain with it (actor: the operator's command), idp creates
    its signing keys.
    """
    tenant = Tenant(slug=slug, name=name)
    tenant.full_clean()
    with transaction.atomic():
        if Tenant.objects.filter(slug=slug).exists():
            raise ValidationError({"slug": f"A tenant with slug {slug!r} already exists."})
        tenant.save()
        with tenant_context(tenant):
            SecurityPolicy.objects.create(tenant=tenant)
            tenant_created.send(sender=Tenant, tenant=tenant, actor=actor)
    return tenant


# Read at every sign-in and on every login page: cached like tenants and clients
# (core.lookup_cache: evicted here on change, other processes within LOOKUP_CACHE_SECONDS).
security_policies = LookupCache(max_entries=1024)


def policy_for(tenant: Tenant) -> SecurityPolicy:
    """The tenant's security policy (the defaults, created on first use for a tenant older
    than the policy). Read at every sign-in: a change applies from the next one on."""

    def load() -> SecurityPolicy:
        with tenant_context(tenant):
            policy = SecurityPolicy.objects.filter(tenant=tenant).first()
            if policy is None:
                policy, _created = SecurityPolicy.objects.get_or_create(tenant=tenant)
        return policy

    return security_policies.get_or_load(tenant.pk, load)


def update_policy(tenant: Tenant, *, actor: Actor | None = None, **fields: object) -> SecurityPolicy:
    """Change the tenant's security policy (validated); the one door the admin and the API
    use. A change is audited (``policy_changed``: the fields, old and new values)."""
    with tenant_context(tenant), transaction.atomic():
        policy = SecurityPolicy.objects.select_for_update().get(pk=policy_for(tenant).pk)
        changes: dict[str, dict[str, object]] = {}
        for name, value in fields.items():
            if name not in POLICY_FIELDS:
                raise ValidationError({name: "Not a field of the security policy."})
            if getattr(policy, name) != value:
                changes[name] = {"from": getattr(policy, name), "to": value}
            setattr(policy, name, value)
        policy.full_clean()
        policy.save()
        if changes:
            policy_changed.send(sender=SecurityPolicy, tenant=tenant, actor=actor, changes=changes)
    security_policies.evict(tenant.pk)
    return policy


POLICY_FIELDS = frozenset({
    "mfa", "allow_totp", "allow_passkeys", "allow_recovery_codes", "allow_passwordless",
    "session_idle_timeout", "session_absolute_timeout", "password_min_length", "passkey_rp_id",
    "lockout_failure_limit", "lockout_cooloff", "ip_failure_limit",
    "allow_self_registration", "require_verified_email", "risk_step_up_threshold",
    "signing_algorithms", "key_rotation_days", "audit_retention_days",
    # issue 15: rate limits
    "ratelimit_window", "ratelimit_signin_per_ip", "ratelimit_signin_per_account", "ratelimit_recovery_per_ip",
    "ratelimit_recovery_per_account", "ratelimit_client_requests", "ratelimit_client_failures_per_ip",
    "ratelimit_api_per_token",
})


def deactivate_tenant(tenant: Tenant, *, actor: Actor, reason: str = "") -> Tenant:
    """Suspend a tenant: every URL of it answers 404 from the commit on (its pages, its
    token, userinfo and introspection endpoints, its API), so none of its sessions or
    tokens is accepted anywhere. Nothing is deleted or revoked: ``reactivate_tenant`` brings
    it all back. The platform tenant itself cannot be deactivated (its staff would lock
    themselves out of the platform API). Audited in the tenant's trail, through the
    platform door (platform.access, then tenant.updated)."""
    if tenant.is_platform:
        raise ValidationError({"slug": "The platform tenant cannot be deactivated."})
    return _set_active(tenant, False, actor=actor, reason=reason or "deactivate the tenant")


def reactivate_tenant(tenant: Tenant, *, actor: Actor, reason: str = "") -> Tenant:
    """Serve a deactivated tenant again, as it was; audited like ``deactivate_tenant``."""
    return _set_active(tenant, True, actor=actor, reason=reason or "reactivate the tenant")


def _set_active(tenant: Tenant, active: bool, *, actor: Actor, reason: str) -> Tenant:
    from tenants.middleware import active_tenants
    from tenants.platform import platform_access

    with transaction.atomic():
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if locked.is_active != active:
            with platform_access(locked, reason=reason, actor=actor):
                Tenant.objects.filter(pk=locked.pk).update(is_active=active)
                tenant_updated.send(sender=Tenant, tenant=locked, actor=actor, reason=reason,
                                    changes={"is_active": {"from": locked.is_active, "to": active}})
            locked.is_active = active
        # The lookup cache (tenants.middleware) holds active tenants by slug: evicted now and
        # again at the commit, so no request in between puts the old state back for long.
        active_tenants.evict(locked.slug)
        transaction.on_commit(lambda: active_tenants.evict(locked.slug))
    tenant.is_active = locked.is_active
    return locked
