"""Base for operator commands that act inside one tenant (``--tenant SLUG``)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from django.core.management.base import CommandError
from django.db import DatabaseError

from core.commands import OperatorCommand
from tenants.models import Tenant

log = logging.getLogger("tessera.jobs")


class TenantCommand(OperatorCommand):
    """An operator command with ``--tenant``; ``self.tenant(opts)`` finds it or fails (exit 2)."""

    def add_tenant_argument(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="Slug of the tenant.")

    def tenant(self, opts: dict) -> Tenant:
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise self.fail(f"unknown tenant {opts['tenant']!r}")
        return tenant

    def for_each_tenant(self, tenants: Iterable[Tenant], job: Callable[[Tenant], None], *, what: str) -> None:
        """Run ``job`` for each tenant; one tenant's database error is reported and the others
        go on (the job is resumable: running again finishes it); exit 1 if any failed."""
        failed = []
        for tenant in tenants:
            try:
                job(tenant)
            except DatabaseError as exc:
                log.exception("%s of %s failed", what, tenant.slug)
                self.stderr.write(f"{tenant.slug}: failed ({type(exc).__name__}); run again to resume")
                failed.append(tenant.slug)
        if failed:
            raise CommandError(f"{what} failed for {', '.join(failed)}", returncode=1)

