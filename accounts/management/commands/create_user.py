"""manage.py create_user --tenant SLUG --username U --email E (--password P | --password-stdin)"""

from __future__ import annotations

import json
import sys

from django.core.exceptions import ValidationError

from accounts.services import create_user
from tenants.commands import TenantCommand
from tenants.context import tenant_context


class Command(TenantCommand):
    help = "Create a user in a tenant."

    def add_arguments(self, parser) -> None:
        self.add_tenant_argument(parser)
        parser.add_argument("--username", required=True)
        parser.add_argument("--email", default="")
        secret = parser.add_mutually_exclusive_group(required=True)
        secret.add_argument("--password", help="Visible in the process list; prefer --password-stdin.")
        secret.add_argument("--password-stdin", action="store_true", help="Read the password from stdin.")
        parser.add_argument("--email-verified", action="store_true")
        parser.add_argument("--first-name", default="", help="Given name (the given_name and name claims).")
        parser.add_argument("--last-name", default="", help="Family name (the family_name and name claims).")
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, **opts) -> None:
        tenant = self.tenant(opts)
        password = sys.stdin.readline().rstrip("\n") if opts["password_stdin"] else opts["password"]
        with tenant_context(tenant):
            try:
                user = create_user(username=opts["username"], email=opts["email"], password=password,
                                   email_verified=opts["email_verified"], first_name=opts["first_name"].strip(),
                                   last_name=opts["last_name"].strip(), actor=self.actor)
            except ValidationError as exc:
                raise self.fail(" ".join(exc.messages)) from exc
        if opts["as_json"]:
            self.stdout.write(json.dumps({"tenant": tenant.slug, "username": user.username, "sub": str(user.uid)}))
        else:
            self.stdout.write(f"Created user {user.username} in {tenant.slug} (sub {user.uid}).")
