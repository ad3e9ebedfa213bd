"""Celery tasks of idp: thin wrappers over idp.cleanup (``manage.py cleanup_expired`` runs the
same services). Beat enqueues ``cleanup_all_tenants`` (settings/celery.py), which fans out
one ``cleanup_tenant`` per tenant: tasks take ids, and each tenant's run goes through
the audited platform door under that tenant's row-level security context."""

from __future__ import annotations

from celery import shared_task

from idp import cleanup
from tenants.models import Tenant


@shared_task(name="idp.tasks.cleanup_tenant", ignore_result=True)
def cleanup_tenant(tenant_id: int, batch_size: int = cleanup.DEFAULT_BATCH_SIZE) -> int:
    """Delete what one tenant no longer needs; the number of rows deleted."""
    report = cleanup.clean_tenant(tenant_id, batch_size=batch_size)
    return report.total if report else 0


@shared_task(name="idp.tasks.cleanup_all_tenants", ignore_result=True)
def cleanup_all_tenants() -> int:
    """Enqueue a cleanup for every tenant, deactivated ones included; how many were enqueued."""
    ids = list(Tenant.objects.order_by("pk").values_list("pk", flat=True))
    for tenant_id in ids:
        cleanup_tenant.delay(tenant_id)
    return len(ids)
