"""Tenant services: creating tenants."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

import audit
from tenants.context import tenant_context
from tenants.models import Tenant


def create_tenant(slug: str, name: str, *, actor: "audit.Actor | None" = None) -> Tenant:
    """Create an active tenant; raises ValidationError on a bad or taken slug.

    The tenant's audit chain starts with its creation (actor: the operator's command)."""
    tenant = Tenant(slug=slug, name=name)
    tenant.full_clean()
    with transaction.atomic():
        if Tenant.objects.filter(slug=slug).exists():
            raise ValidationError({"slug": f"A tenant with slug {slug!r} already exists."})
        tenant.save()
        with tenant_context(tenant):
            audit.record(audit.Action.TENANT_CREATED, actor=actor or audit.system_actor("tessera"),
                         target=("tenant", slug), details={"name": name})
    return tenant

