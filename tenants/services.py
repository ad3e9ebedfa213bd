"""Tenant services: creating tenants."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from tenants.models import Tenant


def create_tenant(slug: str, name: str) -> Tenant:
    """Create an active tenant; raises ValidationError on a bad or taken slug."""
    tenant = Tenant(slug=slug, name=name)
    tenant.full_clean()
    with transaction.atomic():
        if Tenant.objects.filter(slug=slug).exists():
            raise ValidationError({"slug": f"A tenant with slug {slug!r} already exists."})
        tenant.save()
    return tenant

