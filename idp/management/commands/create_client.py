"""manage.py create_client --tenant SLUG --name N (--public|--confidential) --grant G [--grant G] ..."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError

from core.commands import OperatorCommand
from idp.models import AccessTokenFormat, ApplicationType, GrantType, SigningAlgorithm
from idp.services.clients import create_client
from tenants.context import tenant_context
from tenants.models import Tenant


class Command(OperatorCommand):
    help = "Register an OAuth/OIDC client (relying party) in a tenant. The secret is shown once."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True)
        parser.add_argument("--name", required=True)
        kind = parser.add_mutually_exclusive_group(required=True)
        kind.add_argument("--public", action="store_true", help="No secret (SPA, mobile, CLI).")
        kind.add_argument("--confidential", action="store_true", help="Server-side; gets a secret.")
        parser.add_argument("--grant", action="append", required=True, choices=GrantType.values)
        parser.add_argument("--redirect-uri", action="append", default=[])
        parser.add_argument("--post-logout-redirect-uri", action="append", default=[])
        parser.add_argument("--first-party", action="store_true", help="Skip the consent page.")
        parser.add_argument("--native", action="store_true",
                            help="A native app (CLI, desktop, mobile): its loopback redirect URIs match on "
                                 "any port (RFC 8252 §7.3). Other clients' redirect URIs match exactly.")
        parser.add_argument("--algorithm", default=SigningAlgorithm.RS256, choices=SigningAlgorithm.values,
                            help="ID token signing algorithm.")
        parser.add_argument("--access-token-format", default=AccessTokenFormat.OPAQUE,
                            choices=AccessTokenFormat.values,
                            help="opaque (default) or jwt (RFC 9068, validated locally by resource servers).")
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, **opts) -> None:
        tenant = Tenant.objects.filter(slug=opts["tenant"]).first()
        if tenant is None:
            raise self.fail(f"unknown tenant {opts['tenant']!r}")
        with tenant_context(tenant):
            try:
                new = create_client(
                    name=opts["name"], confidential=opts["confidential"], grant_types=opts["grant"],
                    redirect_uris=opts["redirect_uri"], first_party=opts["first_party"],
                    post_logout_redirect_uris=opts["post_logout_redirect_uri"], algorithm=opts["algorithm"],
                    access_token_format=opts["access_token_format"], actor=self.actor,
                    application_type=ApplicationType.NATIVE if opts["native"] else ApplicationType.WEB,
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
