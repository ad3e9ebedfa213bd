"""Celery tasks of audit: the scheduled checkpoint and retention job (audit.retention), one
task per tenant, by id; ``manage.py purge_audit`` runs the same service. And the webhook
deliveries (audit.webhook_delivery): one task per delivery, by tenant id and delivery id,
enqueued when the event's transaction commits, and the sweep that beat runs for lost ones."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from audit import retention, webhook_delivery
from audit.models import DeliveryStatus
from tenants.context import tenant_context
from tenants.models import Tenant
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


RETRY_COUNTDOWN_LIMIT = 15 * 60  # seconds


@shared_task(name="audit.tasks.deliver_webhook", ignore_result=True)
def deliver_webhook(tenant_id: int, delivery_id: str) -> str | None:
    """Make one webhook delivery's next attempt, as its tenant (audit.webhook_delivery); when it
    failed and is to be retried, enqueue the retry for when it is due (with a worker; run
    eagerly, retries wait for the sweep). Its status afterwards, None when nothing was due."""
    tenant = Tenant.objects.filter(pk=tenant_id, is_active=True).first()
    if tenant is None:
        return None  # a deactivated tenant's deliveries wait; the sweep sends them if it returns
    with tenant_context(tenant):
        delivery = webhook_delivery.deliver(delivery_id)
    if delivery is None:
        return None
    if delivery.status == DeliveryStatus.PENDING and not deliver_webhook.app.conf.task_always_eager:
        delay = max(0.0, (delivery.next_attempt_at - timezone.now()).total_seconds())
        # Longer waits are the sweep's: a countdown past Redis's visibility timeout (1 h) is
        # delivered to a worker again, and again, until it is due.
        if delay <= RETRY_COUNTDOWN_LIMIT:
            deliver_webhook.apply_async((tenant_id, delivery_id), countdown=delay)
    return str(delivery.status)


@shared_task(name="audit.tasks.sweep_webhooks", ignore_result=True)
def sweep_webhooks() -> int:
    """Enqueue the webhook deliveries whose task was lost (beat, every WEBHOOK_SWEEP_INTERVAL)."""
    return webhook_delivery.sweep()
