"""Tenant services: creating tenants."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from core.actors import Actor
from tenants.context import tenant_context
from tenants.models import Tenant
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
            tenant_created.send(sender=Tenant, tenant=tenant, actor=actor)
    return tenant
