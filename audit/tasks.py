"""Celery tasks of audit: the scheduled checkpoint and retention job (audit.retention), one
task per tenant, by id; ``manage.py purge_audit`` runs the same service."""

from __future__ import annotations

from celery import shared_task

from audit import retention
from tenants.tasks import enqueue_for_each_tenant


@shared_task(name="audit.tasks.maintain_tenant", ignore_result=True)
def maintain_tenant(tenant_id: int) -> int:
    """Checkpoint one tenant's chain and purge what is past its retention; events purged."""
    report = retention.maintain_tenant(tenant_id)
    return report.purged if report else 0


@shared_task(name="audit.tasks.maintain_all_tenants", ignore_result=True)
def maintain_all_tenants() -> int:
    """Enqueue the audit job for every tenant, deactivated ones included; how many."""
    return enqueue_for_each_tenant(maintain_tenant, include_inactive=True)
