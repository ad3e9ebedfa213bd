"""manage.py rotate_kek [--check]: re-seal every sealed secret under the current KEK (idp.kek)."""

from __future__ import annotations

from django.core.management.base import CommandError

from core.conf import tessera_settings
from idp import kek
from tenants.commands import TenantCommand
from tenants.models import Tenant


class Command(TenantCommand):
    help = ("After a new key-encryption key became TESSERA_KEY_ENCRYPTION_KEY and the old one moved to "
            "TESSERA_PREVIOUS_KEY_ENCRYPTION_KEYS: re-seal the data keys, signing keys and TOTP seeds under "
            "the new one, row by row, while serving. Safe to interrupt and run again. --check only counts "
            "what is still sealed under a previous KEK (exit 1 while anything is).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--check", action="store_true", help="Count, change nothing.")

    def handle(self, *args, **opts) -> None:
        tenants = list(Tenant.objects.order_by("pk"))  # deactivated tenants' secrets too
        report = kek.rotate(tenants, actor=self.actor, check_only=opts["check"])
        if opts["check"]:
            left = {label: n for label, n in report.remaining.items() if n}
            if left:
                kinds = ", ".join(f"{n} {label}" for label, n in left.items())
                raise CommandError(f"still sealed under a previous KEK: {kinds}", returncode=1)
            self.stdout.write("everything is sealed under the current KEK")
            return
        kinds = ", ".join(f"{n} {label}" for label, n in report.resealed.items())
        self.stdout.write(f"re-sealed {kinds}")
        if tessera_settings.PREVIOUS_KEY_ENCRYPTION_KEYS:
            self.stdout.write("next: `manage.py rotate_kek --check`; once it finds nothing left, remove "
                              "TESSERA_PREVIOUS_KEY_ENCRYPTION_KEYS")
