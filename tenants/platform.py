"""The one door for platform-level work: acting inside a tenant from outside it, audited.

Row-level security gives no role a view across tenants, so platform code (jobs over all
tenants, the platform admin, operator commands) works one tenant at a time, through here.
Each entry is recorded in that tenant's own audit trail (platform.access: who and why), so
a tenant's trail shows every time the platform touched its data.

    for tenant in each_tenant(reason="token cleanup", actor=system_actor("celery cleanup")):
        ...  # runs with app.tenant_id = tenant; tenant-scoped managers work as usual
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import transaction

from core.actors import Actor
from tenants.context import tenant_context
from tenants.models import Tenant
from tenants.signals import platform_accessed


@contextlib.contextmanager
def platform_access(tenant: Tenant, *, reason: str, actor: Actor) -> Iterator[Tenant]:
    """Run a block as ``tenant`` on the platform's behalf; audited in the tenant's trail
    (``platform_accessed``, committed before the block runs)."""
    with tenant_context(tenant):
        with transaction.atomic():
            platform_accessed.send(sender=Tenant, tenant=tenant, actor=actor, reason=reason)
        yield tenant


def each_tenant(*, reason: str, actor: Actor, include_inactive: bool = False) -> Iterator[Tenant]:
    """Yield every tenant in turn, each inside ``platform_access``."""
    tenants = Tenant.objects.order_by("pk")
    if not include_inactive:
        tenants = tenants.filter(is_active=True)
    for tenant in list(tenants):
        with platform_access(tenant, reason=reason, actor=actor):
            yield tenant
