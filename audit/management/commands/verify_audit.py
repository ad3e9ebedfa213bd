"""manage.py verify_audit (--tenant SLUG | --all) [--json]: check each tenant's audit hash chain."""

from __future__ import annotations

import json
from dataclasses import asdict

from django.core.management.base import CommandError

from audit.services import verify_chain
from tenants.commands import OperatorCommand
from tenants.models import Tenant
from tenants.platform import platform_access


class Command(OperatorCommand):
    help = ("Verify the audit trail's hash chain of a tenant (or all); exit 1 and name the first "
            "broken link when an event was altered, removed or reordered.")

    def add_arguments(self, parser) -> None:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--tenant", help="Slug of the tenant to verify.")
        which.add_argument("--all", action="store_true", help="Verify every tenant.")
        parser.add_argument("--json", action="store_true", dest="as_json", help="One JSON object per tenant.")

    def handle(self, *args, **opts) -> None:
        if opts["all"]:
            tenants = list(Tenant.objects.order_by("slug"))
        else:
            tenants = list(Tenant.objects.filter(slug=opts["tenant"]))
            if not tenants:
                raise self.fail(f"unknown tenant {opts['tenant']!r}")
        broken = []
        for tenant in tenants:
            with platform_access(tenant, reason="verify_audit", actor=self.actor):
                result = verify_chain()
            if opts["as_json"]:
                self.stdout.write(json.dumps({"tenant": tenant.slug, **asdict(result)}))
            elif result.ok:
                self.stdout.write(f"{tenant.slug}: ok, {result.checked} events verified "
                                  f"(#{result.first_seq or 0}..#{result.last_seq or 0})")
            else:
                self.stdout.write(f"{tenant.slug}: BROKEN at event #{result.broken_seq}: {result.reason}")
            if not result.ok:
                broken.append(tenant.slug)
        if broken:
            raise CommandError(f"audit chain broken for: {', '.join(broken)}", returncode=1)
