"""manage.py checkpoint_audit (--tenant SLUG | --all): sign each chain head now."""

from __future__ import annotations

from audit import checkpoints
from core.commands import OperatorCommand
from tenants.models import Tenant
from tenants.platform import each_tenant, platform_access


class Command(OperatorCommand):
    help = ("Write a signed checkpoint of each tenant's audit chain head (also written every "
            "TESSERA_AUDIT_CHECKPOINT_INTERVAL events). Keep the printed log lines outside the database.")

    def add_arguments(self, parser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--tenant", help="Slug of the tenant.")
        which.add_argument("--all", action="store_true", help="Every active tenant.")

    def handle(self, *args, **opts) -> None:
        if opts["all"]:
            visits = each_tenant(reason="checkpoint_audit", actor=self.actor)
        else:
            tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
            if tenant is None:
                raise self.fail(f"unknown tenant {opts['tenant']!r}")
            visits = _one(tenant, self.actor)
        for tenant in visits:
            checkpoint = checkpoints.write()
            if checkpoint is None:
                self.stdout.write(f"{tenant.slug}: nothing to sign (no events, or no signing key)")
            else:
                self.stdout.write(f"{tenant.slug}: checkpoint at #{checkpoint.seq} {checkpoint.jws}")


def _one(tenant, actor):
    with platform_access(tenant, reason="checkpoint_audit", actor=actor):
        yield tenant
