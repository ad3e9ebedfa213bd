"""manage.py create_tenant <slug> --name NAME [--json]"""

from __future__ import annotations

import json

from django.core.exceptions import ValidationError

from core.commands import OperatorCommand
from tenants.services import create_tenant


class Command(OperatorCommand):
    help = "Create a tenant."

    def add_arguments(self, parser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--json", action="store_true", dest="as_json", help="Print the result as JSON.")

    def handle(self, *args, slug: str, name: str, as_json: bool = False, **options) -> None:
        try:
            tenant = create_tenant(slug, name, actor=self.actor)
        except ValidationError as exc:
            raise self.fail("; ".join(m for msgs in exc.message_dict.values() for m in msgs)) from exc
        if as_json:
            self.stdout.write(json.dumps({"slug": tenant.slug, "name": tenant.name, "id": tenant.pk}))
        else:
            self.stdout.write(f"Created tenant {tenant.slug} ({tenant.name}).")

