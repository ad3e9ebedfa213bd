"""manage.py generate_secrets: print fresh SECRET_KEY and TESSERA_KEY_ENCRYPTION_KEY lines."""

from __future__ import annotations

import base64
import secrets

from core.commands import OperatorCommand


class Command(OperatorCommand):
    help = "Print new random secrets as environment lines (nothing is stored)."

    def handle(self, *args, **opts) -> None:
        self.stdout.write(f"SECRET_KEY={secrets.token_urlsafe(50)}")
        kek = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
        self.stdout.write(f"TESSERA_KEY_ENCRYPTION_KEY={kek}")
