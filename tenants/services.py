"""Tenant services: creating tenants."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from core.actors import Actor
from tenants.context import tenant_context
from tenants.models import SecurityPolicy, Tenant
from tenants.signals import tenant_created


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


def policy_for(tenant: Tenant) -> SecurityPolicy:
    """The tenant's security policy (the defaults, created on first use for a tenant older
    than the policy). Read at every sign-in: a change applies from the next one on."""
    with tenant_context(tenant):
        policy = SecurityPolicy.objects.filter(tenant=tenant).first()
        if policy is None:
            policy, _created = SecurityPolicy.objects.get_or_create(tenant=tenant)
    return policy
