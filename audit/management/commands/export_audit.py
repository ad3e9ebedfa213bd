"""manage.py export_audit --tenant SLUG [--output FILE]: the trail as verifiable JSON lines."""

from __future__ import annotations

import sys
from pathlib import Path

from audit.export import export_lines
from tenants.commands import TenantCommand
from tenants.platform import platform_access


class Command(TenantCommand):
    help = ("Export a tenant's audit trail as JSON lines (its public keys, every event, every signed "
            "checkpoint, the last one made now), for `verify_audit --export FILE --jwks URL` anywhere.")

    def add_arguments(self, parser) -> None:
        self.add_tenant_argument(parser)
        parser.add_argument("--output", metavar="FILE", help="Write here instead of stdout.")
        parser.add_argument("--since-seq", type=int, default=0, help="Only events after this position.")

    def handle(self, *args, **opts) -> None:
        tenant = self.tenant(opts)
        if opts["since_seq"] < 0:
            raise self.fail("--since-seq cannot be negative")
        out = Path(opts["output"]).open("w", encoding="utf-8") if opts["output"] else sys.stdout
        try:
            with platform_access(tenant, reason="export_audit", actor=self.actor):
                for line in export_lines(since_seq=opts["since_seq"]):
                    out.write(line + "\n")
        finally:
            if out is not sys.stdout:
                out.close()
