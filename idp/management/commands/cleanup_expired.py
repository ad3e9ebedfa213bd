"""manage.py cleanup_expired [--tenant SLUG] [--batch-size N]: delete expired tokens, spent
codes, expired sessions and stale lockout counters, tenant by tenant (idp.cleanup)."""

from __future__ import annotations

from idp.cleanup import DEFAULT_BATCH_SIZE, clean_tenant
from tenants.commands import TenantCommand
from tenants.models import Tenant


class Command(TenantCommand):
    help = ("Delete expired and revoked tokens, spent authorization codes, expired sessions and stale "
            "lockout counters, in short batches; safe to run while serving, twice at once, and again "
            "after an interruption.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", default="", help="Slug of one tenant (default: every tenant).")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                            help=f"Rows per transaction (default {DEFAULT_BATCH_SIZE}).")

    def handle(self, *args, **opts) -> None:
        # SQLite takes at most 32766 parameters in the DELETE's IN list.
        if not 1 <= opts["batch_size"] <= 30_000:
            raise self.fail("--batch-size must be between 1 and 30000")
        tenants = [self.tenant(opts)] if opts["tenant"] else list(Tenant.objects.order_by("pk"))

        def clean(tenant: Tenant) -> None:
            report = clean_tenant(tenant.pk, batch_size=opts["batch_size"])
            if report is not None:
                kinds = ", ".join(f"{count} {label}" for label, count in report.deleted.items())
                self.stdout.write(f"{tenant.slug}: deleted {kinds}; longest batch {report.longest:.3f} s")

        self.for_each_tenant(tenants, clean, what="cleanup")
