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
        parser.add_argument("--tenant", default="", help="Slug of one tenant (default: every active tenant).")
        parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE,
                            help=f"Rows per transaction (default {DEFAULT_BATCH_SIZE}).")

    def handle(self, *args, **opts) -> None:
        if not 1 <= opts["batch_size"] <= 50_000:
            raise self.fail("--batch-size must be between 1 and 50000")
        tenants = [self.tenant(opts)] if opts["tenant"] else list(Tenant.objects.filter(is_active=True).order_by("pk"))
        for tenant in tenants:
            report = clean_tenant(tenant.pk, batch_size=opts["batch_size"])
            if report is None:
                self.stdout.write(f"{tenant.slug}: inactive, skipped")
                continue
            kinds = ", ".join(f"{count} {label}" for label, count in report.deleted.items())
            self.stdout.write(f"{tenant.slug}: deleted {kinds}; longest batch {report.longest:.3f} s")
