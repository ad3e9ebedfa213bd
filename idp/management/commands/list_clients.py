"""manage.py list_clients --tenant SLUG [--json]"""

from __future__ import annotations

import json

from idp.services.clients import ClientSettings, list_clients
from tenants.commands import TenantCommand
from tenants.context import tenant_context


class Command(TenantCommand):
    help = "List a tenant's OAuth/OIDC clients and their settings (never a secret)."

    def add_arguments(self, parser) -> None:
        self.add_tenant_argument(parser)
        parser.add_argument("--json", action="store_true", dest="as_json", help="One JSON object per line.")

    def handle(self, *args, **opts) -> None:
        with tenant_context(self.tenant(opts)):
            clients = [(app.client_id, ClientSettings.of(app)) for app in list_clients()]
        for client_id, settings in clients:
            if opts["as_json"]:
                self.stdout.write(json.dumps({"client_id": client_id, **settings.__dict__}))
                continue
            kind = "confidential" if settings.confidential else "public"
            self.stdout.write(f"{client_id}  {settings.name} ({kind}, {settings.application_type}"
                              f"{', first party' if settings.first_party else ''})")
            self.stdout.write(f"    grants: {' '.join(settings.grant_types)}; ID tokens {settings.algorithm}; "
                              f"access tokens {settings.access_token_format}")
            lists = (("redirect", settings.redirect_uris), ("post-logout", settings.post_logout_redirect_uris),
                     ("web origin", settings.web_origins))
            for label, values in lists:
                for value in values:
                    self.stdout.write(f"    {label}: {value}")
        if not clients and not opts["as_json"]:
            self.stdout.write("no clients")
