"""Celery tasks of idp: thin wrappers over idp.cleanup and idp.rotation (``manage.py
cleanup_expired`` and ``manage.py rotate_keys`` run the same services). Beat enqueues
``cleanup_all_tenants`` and ``rotate_keys_all_tenants`` (settings/celery.py), which fan out
one task per tenant: tasks take ids, and each tenant's run goes through the audited
platform door under that tenant's row-level security context."""

from __future__ import annotations

from celery import shared_task

from idp import cleanup, rotation
from tenants.tasks import enqueue_for_each_tenant


@shared_task(name="idp.tasks.cleanup_tenant", ignore_result=True)
def cleanup_tenant(tenant_id: int, batch_size: int = cleanup.DEFAULT_BATCH_SIZE) -> int:
    """Delete what one tenant no longer needs; the number of rows deleted."""
    report = cleanup.clean_tenant(tenant_id, batch_size=batch_size)
    return report.total if report else 0


@shared_task(name="idp.tasks.cleanup_all_tenants", ignore_result=True)
def cleanup_all_tenants() -> int:
    """Enqueue a cleanup for every tenant, deactivated ones included; how many were enqueued."""
    return enqueue_for_each_tenant(cleanup_tenant, include_inactive=True)


@shared_task(name="idp.tasks.rotate_keys_tenant", ignore_result=True)
def rotate_keys_tenant(tenant_id: int) -> int:
    """Take the steps of one tenant's key rotations that are due; how many keys changed."""
    report = rotation.rotate_tenant(tenant_id)
    return len(report.changes) if report else 0


@shared_task(name="idp.tasks.rotate_keys_all_tenants", ignore_result=True)
def rotate_keys_all_tenants() -> int:
    """Enqueue a rotation check for every active tenant; how many were enqueued."""
    return enqueue_for_each_tenant(rotate_keys_tenant, include_inactive=False)
