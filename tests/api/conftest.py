"""Admin API fixtures: per tenant, a full and a read-only admin, a plain user, and service
clients (client credentials) with admin:read+write, admin:read, and no admin scope."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from django.test import Client

from accounts.services import create_user
from accounts.sessions import sessions_of
from audit import webhooks
from audit.models import Action, AuditEvent, WebhookDelivery
from audit.recording import record
from core.actors import system_actor
from idp.models import AccessToken, GrantType, SigningKey
from idp.services.clients import create_client
from tenants.context import tenant_context
from tests.conftest import PASSWORD, TenantWorld, build_world
from tests.security.flows import authorize_url

ADMIN = "admin:read admin:write"
FORM = "application/x-www-form-urlencoded"


@dataclass
class AdminWorld:
    world: TenantWorld
    admin: Any
    reader: Any
    writer_client: Any  # NewClient: admin:read + admin:write
    reader_client: Any  # admin:read only
    plain_client: Any  # no admin scope
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def tenant(self) -> Any:
        return self.world.tenant

    @property
    def slug(self) -> str:
        return self.world.tenant.slug

    @property
    def base(self) -> str:
        return f"/t/{self.slug}/api/v1"


def build_admin_world(slug: str, name: str) -> AdminWorld:
    world = build_world(slug, name)
    with tenant_context(world.tenant):
        admin = create_user(username="root", email=f"root@{slug}.example", password=PASSWORD, email_verified=True)
        reader = create_user(username="auditor", email=f"auditor@{slug}.example", password=PASSWORD,
                             email_verified=True)
        type(admin).objects.filter(pk=admin.pk).update(admin_role="full")
        type(admin).objects.filter(pk=reader.pk).update(admin_role="read_only")
        admin.refresh_from_db()
        reader.refresh_from_db()

        def service(label: str, scopes: list[str]) -> Any:
            return create_client(name=f"{name} {label}", confidential=True,
                                 grant_types=[GrantType.CLIENT_CREDENTIALS], redirect_uris=[], admin_scopes=scopes)

        return AdminWorld(world=world, admin=admin, reader=reader,
                          writer_client=service("automation", ["admin:read", "admin:write"]),
                          reader_client=service("reporting", ["admin:read"]),
                          plain_client=service("backend", []))


def client_credentials_token(slug: str, new_client: Any, scope: str = ADMIN, http: Client | None = None) -> str:
    """An access token from the tenant's token endpoint (client credentials, Basic auth)."""
    http = http or Client()
    basic = base64.b64encode(f"{new_client.application.client_id}:{new_client.client_secret}".encode()).decode()
    form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
    response = http.post(f"/t/{slug}/token", urlencode(form), content_type=FORM, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200, response.content
    return response.json()["access_token"]


class Api:
    """HTTP against the real views with a bearer token (JSON in, JSON out)."""

    def __init__(self, token: str | None, base: str) -> None:
        self.http = Client()
        self.token = token
        self.base = base

    def _headers(self) -> dict[str, str]:
        return {"HTTP_AUTHORIZATION": f"Bearer {self.token}"} if self.token else {}

    def get(self, path: str, **params: Any) -> Any:
        return self.http.get(self._url(path), params, **self._headers())

    def post(self, path: str, body: Any = None) -> Any:
        return self.http.post(self._url(path), body or {}, content_type="application/json", **self._headers())

    def patch(self, path: str, body: Any) -> Any:
        return self.http.patch(self._url(path), body, content_type="application/json", **self._headers())

    def delete(self, path: str) -> Any:
        return self.http.delete(self._url(path), **self._headers())

    def _url(self, path: str) -> str:
        return path if path.startswith(("/", "http://", "https://")) else f"{self.base}/{path}"


@pytest.fixture
def admin_a(db) -> AdminWorld:
    return build_admin_world("acme", "Acme Corp")


@pytest.fixture
def admin_b(db) -> AdminWorld:
    return build_admin_world("globex", "Globex Inc")


@pytest.fixture
def api_a(admin_a) -> Api:
    """Tenant A's API with a client-credentials token holding admin:read and admin:write."""
    return Api(client_credentials_token(admin_a.slug, admin_a.writer_client), admin_a.base)


def signed_in_with_a_token(world: AdminWorld, username: str = "root") -> None:
    """``username`` signs in on the login page and through a code flow (the first-party client),
    so they have a browser session (a sid) and a token family."""
    http = Client()
    http.get(f"/t/{world.slug}/login")
    assert http.post(f"/t/{world.slug}/login", {"username": username, "password": PASSWORD}).status_code == 302
    client = world.world.first_party
    _url, request = authorize_url("", client.application.client_id, scope="openid")
    query = {k: v for k, v in request.items() if k != "code_verifier"}
    response = http.get(f"/t/{world.slug}/authorize", query)
    code = parse_qs(urlsplit(response["Location"]).query)["code"][0]
    basic = base64.b64encode(f"{client.application.client_id}:{client.client_secret}".encode()).decode()
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": request["redirect_uri"],
            "code_verifier": request["code_verifier"]}
    token = http.post(f"/t/{world.slug}/token", urlencode(form), content_type=FORM, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert token.status_code == 200, token.content


def objects_of(world: AdminWorld, user: Any = None, client: Any = None) -> dict[str, str]:
    """A value for every path parameter of the admin API, naming one of ``world``'s objects:
    ``user`` (default: its full admin, who must have signed in with a token), ``client``
    (default: its automation client), its active ES256 key (the automation clients sign with
    RS256: revoking this one leaves their tokens), its newest event, a new webhook
    subscription (WEBHOOK_ALLOW_PRIVATE_NETWORKS must be on) and a delivery of it."""
    user = user or world.admin
    client = client or world.writer_client.application
    actor = system_actor("pytest")
    with tenant_context(world.tenant):
        subscription, _secret = webhooks.create_subscription("https://127.0.0.1:9/hook", ["*"], actor=actor)
        record(Action.AUDIT_EXPORTED, actor=actor)  # an event, so a (failing) delivery exists
    with tenant_context(world.tenant):
        return {
            "client_id": client.client_id,
            "kid": SigningKey.objects.filter(state="active", alg="ES256").values_list("kid", flat=True).first(),
            "seq": str(AuditEvent.objects.order_by("-seq").values_list("seq", flat=True).first()),
            "uid": str(user.uid),
            "sid": sessions_of(user)[0].sid,
            "family": str(AccessToken.objects.filter(user=user).values_list("family", flat=True).first()),
            "id": str(subscription.pk),
            "delivery_id": str(WebhookDelivery.objects.filter(subscription=subscription).values_list(
                "id", flat=True).first()),
        }
