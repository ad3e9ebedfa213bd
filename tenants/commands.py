"""Base for operator commands that act inside one tenant (``--tenant SLUG``)."""

from __future__ import annotations

from core.commands import OperatorCommand
from tenants.models import Tenant


class TenantCommand(OperatorCommand):
    """An operator command with ``--tenant``; ``self.tenant(opts)`` finds it or fails (exit 2)."""

    def add_tenant_argument(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="Slug of the tenant.")

    def tenant(self, opts: dict) -> Tenant:
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise self.fail(f"unknown tenant {opts['tenant']!r}")
        return tenant
