"""manage.py purge_audit [--tenant SLUG]: the scheduled audit job by hand (audit.retention)."""

from __future__ import annotations

from audit import retention
from core.conf import tessera_settings
from tenants.commands import TenantCommand
from tenants.models import Tenant


class Command(TenantCommand):
    help = ("Sign a checkpoint of each tenant's audit chain, then purge its events older than its "
            "security policy's audit_retention_days (never the last 30 days), as a prefix of the chain "
            "that stays verifiable. Purging needs TESSERA_AUDIT_PURGE_DATABASE: the database alias of a "
            "role allowed to purge (the application role is not).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", default="", help="Slug of one tenant (default: every tenant).")

    def handle(self, *args, **opts) -> None:
        tenants = [self.tenant(opts)] if opts["tenant"] else list(Tenant.objects.order_by("pk"))
        if not tessera_settings.AUDIT_PURGE_DATABASE:
            self.stderr.write("TESSERA_AUDIT_PURGE_DATABASE is not set: checkpoints only, nothing purged")

        def maintain(tenant: Tenant) -> None:
            report = retention.maintain_tenant(tenant.pk, actor=self.actor)
            if report is not None:
                at = f"checkpoint at #{report.checkpoint_seq}" if report.checkpoint_seq else "no checkpoint"
                self.stdout.write(f"{tenant.slug}: {at}; {report.purged} events purged")

        self.for_each_tenant(tenants, maintain, what="audit job")
