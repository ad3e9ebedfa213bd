"""manage.py update_client --tenant SLUG CLIENT_ID [--name N] [--redirect-uri U ...] ..."""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError

from idp.management.commands._client_options import add_settings_arguments
from idp.services.clients import find_client, update_client
from tenants.commands import TenantCommand
from tenants.context import tenant_context


class Command(TenantCommand):
    help = ("Change a client's settings, keeping its client id, its secret and its users' consent. A list option "
            "(--redirect-uri, --post-logout-redirect-uri, --web-origin, --grant) replaces that whole list.")

    def add_arguments(self, parser) -> None:
        self.add_tenant_argument(parser)
        parser.add_argument("client_id")
        parser.add_argument("--name")
        add_settings_arguments(parser, updating=True)
        parser.add_argument("--clear-post-logout-redirect-uris", action="store_true")
        parser.add_argument("--clear-web-origins", action="store_true")
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the changes as JSON.")

    def handle(self, *args, **opts) -> None:
        if opts["clear_post_logout_redirect_uris"] and opts["post_logout_redirect_uri"]:
            raise self.fail("--clear-post-logout-redirect-uris and --post-logout-redirect-uri exclude each other")
        if opts["clear_web_origins"] and opts["web_origin"]:
            raise self.fail("--clear-web-origins and --web-origin exclude each other")
        post_logout = [] if opts["clear_post_logout_redirect_uris"] else opts["post_logout_redirect_uri"]
        changes = {
            "name": opts["name"], "grant_types": opts["grant"], "redirect_uris": opts["redirect_uri"],
            "post_logout_redirect_uris": post_logout,
            "web_origins": [] if opts["clear_web_origins"] else opts["web_origin"],
            "algorithm": opts["algorithm"], "access_token_format": opts["access_token_format"],
            "application_type": opts["application_type"], "first_party": opts["first_party"],
            "admin_scopes": opts["admin_scope"],
        }
        with tenant_context(self.tenant(opts)):
            try:
                made = update_client(find_client(opts["client_id"]), actor=self.actor, **changes)
            except ValidationError as exc:
                raise self.fail(" ".join(exc.messages)) from exc
        if opts["as_json"]:
            self.stdout.write(json.dumps({"client_id": opts["client_id"], "changes": made}))
        elif not made:
            self.stdout.write(f"{opts['client_id']}: nothing to change")
        else:
            for name, change in made.items():
                self.stdout.write(f"{opts['client_id']}: {name}: {change['from']} -> {change['to']}")
