"""manage.py rotate_keys [--tenant SLUG] [--now | --compromised KID]: signing-key rotation
(idp.rotation), as the scheduled job does it, begun by hand, or in an emergency."""

from __future__ import annotations

from idp import rotation
from idp.models import SigningKey
from tenants.commands import TenantCommand
from tenants.models import Tenant
from tenants.platform import platform_access


class Command(TenantCommand):
    help = ("Rotate signing keys. Without options: take every step of every tenant's rotation timeline "
            "that is due (what the scheduled job does). --now: publish a new key for the tenant at once; "
            "it signs after the lead time, at the next run. --compromised KID: unpublish that key at "
            "once, sign with a new one, and revoke every token it may have signed.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", default="", help="Slug of one tenant (default: every active tenant).")
        what = parser.add_mutually_exclusive_group()
        what.add_argument("--now", action="store_true", help="Begin a rotation now (needs --tenant).")
        what.add_argument("--compromised", metavar="KID", default="",
                          help="Emergency: the key with this kid is compromised (needs --tenant).")

    def handle(self, *args, **opts) -> None:
        if (opts["now"] or opts["compromised"]) and not opts["tenant"]:
            raise self.fail("--now and --compromised act on one tenant: give --tenant")
        if opts["compromised"]:
            self._compromised(self.tenant(opts), opts["compromised"])
            return
        tenants = [self.tenant(opts)] if opts["tenant"] else list(Tenant.objects.filter(is_active=True).order_by("pk"))

        def rotate(tenant: Tenant) -> None:
            report = rotation.rotate_tenant(tenant.pk, begin=opts["now"], actor=self.actor)
            if report is None:
                raise self.fail(f"tenant {tenant.slug!r} is deactivated")
            self._print(report)
            if opts["now"]:
                signs_from = rotation.lead_time()
                self.stdout.write(f"{tenant.slug}: the new keys sign from the first run of the rotation job "
                                  f"{int(signs_from.total_seconds())} s or more from now (run this command "
                                  "without --now then, or let the scheduled job do it)")

        self.for_each_tenant(tenants, rotate, what="key rotation")

    def _compromised(self, tenant: Tenant, kid: str) -> None:
        with platform_access(tenant, reason=f"emergency rotation: signing key {kid} compromised", actor=self.actor):
            try:
                report = rotation.revoke_key(tenant, kid, actor=self.actor)
            except rotation.UnknownKey:
                raise self.fail(f"tenant {tenant.slug!r} has no signing key {kid!r}") from None
            if not report.changes:
                self.stdout.write(f"{tenant.slug}: key {kid} was already revoked")
                return
            self._print(report)
            revoked = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in report.tokens_revoked.items())
            self.stdout.write(f"{tenant.slug}: revoked {revoked or 'no tokens (the key never signed)'}")
            published = SigningKey.objects.published().values_list("kid", flat=True)
            self.stdout.write(f"{tenant.slug}: the JWKS now holds {', '.join(published)}")

    def _print(self, report: rotation.RotationReport) -> None:
        if not report.changes:
            self.stdout.write(f"{report.tenant}: nothing due")
        for change in report.changes:
            self.stdout.write(f"{report.tenant}: {change}")
