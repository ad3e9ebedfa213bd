"""manage.py demo: seed (or refresh) a demo tenant, user, admin and clients, and the platform
tenant with a staff member, and print them."""

from __future__ import annotations

import json
from typing import Any

from django.db import transaction

from accounts.services import create_user
from core.commands import OperatorCommand
from core.conf import tessera_settings
from idp import keys
from idp.models import Application, GrantType
from idp.services.clients import create_client, reissue_client_secret
from tenants.context import issuer_for, tenant_context
from tenants.models import AdminRole, Tenant
from tenants.services import create_tenant

DEMO_SLUG = "demo"
DEMO_USER = "demo"
DEMO_PASSWORD = "correct-horse-battery-staple"  # noqa: S105 (the documented demo login; production refuses demo)
# The demo tenant's admin (full role) and the platform tenant's staff member: Django admin at
# /t/demo/admin/ and /admin/ (the platform tenant's admin). Published like the demo user's.
DEMO_ADMIN = "admin"
DEMO_ADMIN_PASSWORD = "demo-admin-horse-battery"  # noqa: S105
PLATFORM_STAFF = "staff"
PLATFORM_STAFF_PASSWORD = "platform-staff-horse-battery"  # noqa: S105
WEB_REDIRECTS = ["http://127.0.0.1:8080/callback", "http://localhost:8080/callback"]
SPA_REDIRECTS = ["http://127.0.0.1:5173/callback", "http://localhost:5173/callback"]


class Command(OperatorCommand):
    help = "Seed a demo tenant with a user and two clients; safe to run again (rotates the demo secret)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json")

    @transaction.atomic
    def handle(self, *args, **opts) -> None:
        if tessera_settings.ENVIRONMENT == "production":
            # The demo user's password is printed in the README: never on a real deployment.
            raise self.fail("demo is for development only: it creates a user with a published password")
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first() or create_tenant(
            DEMO_SLUG, "Demo Organisation", actor=self.actor)
        with tenant_context(tenant):
            from django.contrib.auth import get_user_model

            if not get_user_model().objects.filter(username=DEMO_USER).exists():
                create_user(username=DEMO_USER, email="demo@example.com", password=DEMO_PASSWORD,
                            email_verified=True, first_name="Demo", last_name="User", actor=self.actor)
            self._admin(DEMO_ADMIN, "admin@demo.example.com", DEMO_ADMIN_PASSWORD)
            web = self._client("demo-web", "Demo Web App", confidential=True, redirects=WEB_REDIRECTS,
                               grants=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN,
                                       GrantType.CLIENT_CREDENTIALS])
            spa = self._client("demo-spa", "Demo SPA", confidential=False, redirects=SPA_REDIRECTS,
                               grants=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN])
            keys.provision_keys(actor=self.actor)  # a demo tenant of an older version may lack some
        platform = Tenant.objects.filter(slug=tessera_settings.PLATFORM_TENANT).first() or create_tenant(
            tessera_settings.PLATFORM_TENANT, "Platform", actor=self.actor)
        with tenant_context(platform):
            self._admin(PLATFORM_STAFF, "staff@platform.example.com", PLATFORM_STAFF_PASSWORD)
        base = tessera_settings.PUBLIC_URL or "http://127.0.0.1:8000"
        issuer = issuer_for(tenant, base)
        result: dict[str, Any] = {
            "issuer": issuer,
            "discovery": f"{issuer}/.well-known/openid-configuration",
            "user": {"username": DEMO_USER, "password": DEMO_PASSWORD},
            "admin": {"url": f"{issuer}/admin/", "username": DEMO_ADMIN, "password": DEMO_ADMIN_PASSWORD},
            "platform_admin": {"url": f"{issuer_for(platform, base)}/admin/", "username": PLATFORM_STAFF,
                               "password": PLATFORM_STAFF_PASSWORD},
            "clients": [
                {"name": "Demo Web App (confidential)", "client_id": web[0], "client_secret": web[1],
                 "redirect_uris": WEB_REDIRECTS, "post_logout_redirect_uris": WEB_REDIRECTS},
                {"name": "Demo SPA (public, PKCE)", "client_id": spa[0], "client_secret": None,
                 "redirect_uris": SPA_REDIRECTS, "post_logout_redirect_uris": SPA_REDIRECTS},
            ],
        }
        if opts["as_json"]:
            self.stdout.write(json.dumps(result, indent=2))
            return
        self.stdout.write(f"Issuer:     {result['issuer']}\nDiscovery:  {result['discovery']}")
        self.stdout.write(f"Demo user:  {DEMO_USER} / {DEMO_PASSWORD}")
        for label, admin in (("Admin:     ", result["admin"]), ("Platform:  ", result["platform_admin"])):
            self.stdout.write(f"{label} {admin['url']}  {admin['username']} / {admin['password']}")
        for client in result["clients"]:
            self.stdout.write(f"{client['name']}:\n  client_id:     {client['client_id']}")
            if client["client_secret"]:
                self.stdout.write(f"  client_secret: {client['client_secret']}")
            self.stdout.write(f"  redirect_uris: {' '.join(client['redirect_uris'])}")

    def _admin(self, username: str, email: str, password: str) -> None:
        """A full admin of the tenant in context, made once (later runs leave it as it is)."""
        from django.contrib.auth import get_user_model

        if not get_user_model().objects.filter(username=username).exists():
            create_user(username=username, email=email, password=password, email_verified=True,
                        admin_role=AdminRole.FULL, actor=self.actor)

    def _client(self, client_id: str, name: str, *, confidential: bool, redirects: list[str],
                grants: list[str]) -> tuple[str, str | None]:
        """Create the demo client once; later runs issue it a fresh secret (it is only shown now)."""
        app = Application.objects.filter(client_id=client_id).first()
        if app is None:
            new = create_client(name=name, confidential=confidential, grant_types=grants,
                                redirect_uris=redirects, post_logout_redirect_uris=redirects,
                                client_id=client_id, actor=self.actor)
            return client_id, new.client_secret
        if not confidential:
            return client_id, None
        return client_id, reissue_client_secret(app, actor=self.actor)
