"""manage.py create_client --tenant SLUG --name N (--public|--confidential) --grant G [--grant G] ..."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError

from idp.management.commands._client_options import add_settings_arguments
from idp.services.clients import create_client
from tenants.commands import TenantCommand
from tenants.context import tenant_context


class Command(TenantCommand):
    help = "Register an OAuth/OIDC client (relying party) in a tenant. The secret is shown once."

    def add_arguments(self, parser) -> None:
        self.add_tenant_argument(parser)
        parser.add_argument("--name", required=True)
        kind = parser.add_mutually_exclusive_group(required=True)
        kind.add_argument("--public", action="store_true", help="No secret (SPA, mobile, CLI).")
        kind.add_argument("--confidential", action="store_true", help="Server-side; gets a secret.")
        add_settings_arguments(parser, updating=False)
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, **opts) -> None:
        tenant = self.tenant(opts)
        with tenant_context(tenant):
            try:
                new = create_client(
                    name=opts["name"], confidential=opts["confidential"], grant_types=opts["grant"],
                    redirect_uris=opts["redirect_uri"] or [], first_party=bool(opts["first_party"]),
                    post_logout_redirect_uris=opts["post_logout_redirect_uri"] or [],
                    web_origins=opts["web_origin"] or [], algorithm=opts["algorithm"],
                    access_token_format=opts["access_token_format"],
                    application_type=opts["application_type"] or "web",
                    admin_scopes=opts["admin_scope"] or [], actor=self.actor,
                )
            except ValidationError as exc:
                raise self.fail(" ".join(exc.messages)) from exc
        result = {"client_id": new.application.client_id, "client_secret": new.client_secret}
        if opts["as_json"]:
            self.stdout.write(json.dumps(result))
        else:
            self.stdout.write(f"client_id:     {result['client_id']}")
            if new.client_secret:
                self.stdout.write(f"client_secret: {new.client_secret}  (shown once; store it now)")
