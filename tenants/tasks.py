"""Celery tasks that act for one tenant: the job's tenant becomes the tenant context.

    @tenant_task()
    def cleanup_tokens(batch: int = 1000) -> int: ...

    cleanup_tokens.delay(tenant.pk, batch=500)   # first argument: the tenant's id

The worker runs the body inside ``tenant_context(tenant)`` and one transaction, so PostgreSQL
row-level security sees the job's tenant (tenants.db), exactly as for a request, and nothing
of it outlives the task on the worker's reused connection.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.db import transaction

from tenants.context import tenant_context
from tenants.models import Tenant


class InactiveTenant(RuntimeError):
    """The job's tenant is gone or deactivated: the job does nothing."""


def tenant_task(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """Decorator: a shared Celery task whose first argument is the id of the tenant it acts for."""

    def decorate(func: Callable[..., Any]) -> Any:
        @functools.wraps(func)
        def run(tenant_id: int, *args: Any, **kwargs: Any) -> Any:
            tenant = Tenant.objects.filter(pk=tenant_id, is_active=True).first()
            if tenant is None:
                raise InactiveTenant(f"tenant {tenant_id} is not active")
            with tenant_context(tenant), transaction.atomic():
                return func(*args, **kwargs)

        options.setdefault("name", f"{func.__module__}.{func.__name__}")
        return shared_task(**options)(run)

    return decorate


def enqueue_for_each_tenant(task: Any, *, include_inactive: bool) -> int:
    """Enqueue ``task(tenant_id)`` once per tenant, in id order (beat's periodic jobs fan out
    so: tasks take ids, and each runs its tenant through the platform door); how many."""
    tenants = Tenant.objects.order_by("pk")
    if not include_inactive:
        tenants = tenants.filter(is_active=True)
    ids = list(tenants.values_list("pk", flat=True))
    for tenant_id in ids:
        task.delay(tenant_id)
    return len(ids)

