"""The Tenant model and the abstract base every tenant-owned model inherits."""

from __future__ import annotations

from django.core.validators import RegexValidator
from django.db import models

from tenants.context import require_tenant
from tenants.managers import TenantScopedManager

SLUG_RE = r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$"


class Tenant(models.Model):
    """An organisation served by this deployment: its own users, clients, keys and audit trail."""

    slug = models.CharField(
        max_length=63,
        unique=True,
        validators=[RegexValidator(SLUG_RE, "Lower-case letters, digits and inner hyphens only.")],
        help_text="Appears in every URL of the tenant: /t/<slug>/.",
    )
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug


class TenantOwned(models.Model):
    """Abstract base: a non-null tenant, a scoped default manager and an explicit unscoped one.

    ``objects`` filters by the current tenant and raises ``TenantNotSet`` when there is none;
    ``unscoped`` is the one, greppable door for platform-level code.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, editable=False, related_name="+")

    objects = TenantScopedManager()
    unscoped = models.Manager()

    class Meta:
        abstract = True
        base_manager_name = "unscoped"

    def save(self, *args, **kwargs) -> None:
        if self.tenant_id is None:
            self.tenant = require_tenant()
        super().save(*args, **kwargs)
