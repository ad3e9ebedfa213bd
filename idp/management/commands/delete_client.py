"""manage.py delete_client --tenant SLUG CLIENT_ID --yes [--json]"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError

from idp.services.clients import delete_client, find_client
from tenants.commands import TenantCommand
from tenants.context import tenant_context


class Command(TenantCommand):
    help = ("Delete a client with its codes, tokens and consents (its audit events stay). Its users are signed "
            "out of it at once; the client id is gone for good.")

    def add_arguments(self, parser) -> None:
        self.add_tenant_argument(parser)
        parser.add_argument("client_id")
        parser.add_argument("--yes", action="store_true", help="Really delete it (there is no undo).")
        parser.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, **opts) -> None:
        if not opts["yes"]:
            raise self.fail("deleting a client revokes every token it holds and cannot be undone: add --yes")
        with tenant_context(self.tenant(opts)):
            try:
                revoked = delete_client(find_client(opts["client_id"]), actor=self.actor)
            except ValidationError as exc:
                raise self.fail(" ".join(exc.messages)) from exc
        if opts["as_json"]:
            self.stdout.write(json.dumps({"client_id": opts["client_id"], "deleted": True, "tokens_revoked": revoked}))
        else:
            self.stdout.write(f"Deleted client {opts['client_id']} ({revoked} token(s) revoked).")
