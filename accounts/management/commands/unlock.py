"""manage.py unlock --tenant SLUG (--username U | --ip A): clear brute-force locks (an audit event)."""

from __future__ import annotations

import ipaddress

from accounts.lockout import unlock
from tenants.commands import TenantCommand
from tenants.context import tenant_context


class Command(TenantCommand):
    help = "Clear the sign-in locks and slow-downs of a username, an IP address, or both, in a tenant."

    def add_arguments(self, parser) -> None:
        self.add_tenant_argument(parser)
        parser.add_argument("--username", default="", help="Username or email as it was typed (any case).")
        parser.add_argument("--ip", default="", help="Client IP address.")

    def handle(self, *args, **opts) -> None:
        username, ip = opts["username"].strip(), opts["ip"].strip()
        if not username and not ip:
            raise self.fail("give --username, --ip, or both")
        if ip:
            try:
                ip = str(ipaddress.ip_address(ip))
            except ValueError as exc:
                raise self.fail(f"not an IP address: {ip!r}") from exc
        tenant = self.tenant(opts)
        with tenant_context(tenant):
            cleared = unlock(username=username, ip=ip, actor=self.actor)
        who = " and ".join(part for part in (username and f"username {username!r}", ip and f"IP {ip}") if part)
        self.stdout.write(f"Cleared {cleared} counter(s) for {who} in {tenant.slug}.")
