"""Tenant-scoped managers: the application layer of tenant isolation."""

from __future__ import annotations

from django.contrib.auth.models import UserManager
from django.db import models

from tenants.context import require_tenant


class TenantScopedQuerySetMixin:
    """Filters every queryset by the tenant in context; raises TenantNotSet without one."""

    def get_queryset(self):  # type: ignore[override]
        return super().get_queryset().filter(tenant=require_tenant())  # type: ignore[misc]


class TenantScopedManager(TenantScopedQuerySetMixin, models.Manager):
    """Default manager of tenant-owned models."""


class TenantScopedUserManager(TenantScopedQuerySetMixin, UserManager):
    """Default manager of the user model: UserManager's helpers, scoped to the tenant."""
