"""The isolation matrix over every operation of the admin API (read from its OpenAPI document,
so an endpoint added later is in the matrix without a change here):

- tenant A's admin token, at A's URL, naming B's objects: 404 (a list never shows them);
- tenant A's admin token at B's URL: 401 (a token is only ever found at its own issuer);
- a token of a person with no admin role, or of a client without admin scopes: 403;
- a read-only token on a change: 403; no token, an expired token: 401.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
import requests
from django.test import Client
from django.utils import timezone

from core.actors import system_actor
from idp.fields import sha256_hex
from idp.models import AccessToken
from tenants.context import tenant_context
from tenants.services import create_tenant
from tests.api.conftest import client_credentials_token, objects_of, signed_in_with_a_token
from tests.api.test_schemathesis import OPERATIONS
from tests.conftest import PASSWORD
from tests.oidc import Browser
from tests.security.flows import exchange, obtain_code

TENANT_OPERATIONS = [op for op in OPERATIONS if op.path.startswith("/t/{tenant}/")]
PLATFORM_OPERATIONS = [op for op in OPERATIONS if not op.path.startswith("/t/{tenant}/")]
WRITES = {"POST", "PATCH", "PUT", "DELETE"}
ACTOR = system_actor("pytest")


def _url(operation: Any, slug: str, values: dict[str, str]) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        if name == "tenant":
            return slug
        assert name in values, f"the matrix has no object for path parameter {name!r} of {operation.label}"
        return values[name]

    return re.sub(r"\{([^}]+)\}", value, operation.path)


def _call(http: Client, method: str, url: str, token: str | None) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return http.generic(method, url, "{}", content_type="application/json", **headers)


@pytest.fixture
def matrix(admin_a, admin_b, settings) -> dict[str, Any]:
    settings.TESSERA = {**settings.TESSERA, "WEBHOOK_ALLOW_PRIVATE_NETWORKS": True}
    create_tenant(settings.TESSERA.get("PLATFORM_TENANT", "platform"), "Platform")
    for world in (admin_a, admin_b):
        signed_in_with_a_token(world)
    # B has more audit events than A, so B's newest seq names no event of A.
    http = Client()
    for _ in range(5):
        http.post(f"/t/{admin_b.slug}/login", {"username": "nobody", "password": "wrong"})
    token_a = client_credentials_token(admin_a.slug, admin_a.writer_client)
    expired = client_credentials_token(admin_a.slug, admin_a.writer_client)
    with tenant_context(admin_a.tenant):
        AccessToken.objects.filter(token_checksum=sha256_hex(expired)).update(
            expires=timezone.now() - dt.timedelta(seconds=1))
    return {
        "a": admin_a, "b": admin_b, "token_a": token_a, "expired_a": expired,
        "reader_a": client_credentials_token(admin_a.slug, admin_a.reader_client, "admin:read"),
        "plain_a": client_credentials_token(admin_a.slug, admin_a.plain_client, ""),
        "objects_b": objects_of(admin_b),
    }


@pytest.mark.parametrize("operation", TENANT_OPERATIONS, ids=lambda operation: operation.label)
def test_tenant_a_never_reaches_tenant_b(operation, matrix):
    a, b, http = matrix["a"], matrix["b"], Client()
    objects_b = matrix["objects_b"]
    at_a_naming_b = _url(operation, a.slug, objects_b)
    response = _call(http, operation.method.upper(), at_a_naming_b, matrix["token_a"])
    if "{" in operation.path.removeprefix("/t/{tenant}/"):
        assert response.status_code in (403, 404), (operation.label, response.status_code, response.content[:300])
    elif operation.method.upper() == "GET":
        assert response.status_code == 200, (operation.label, response.content[:300])
        body = (b"".join(response.streaming_content) if response.streaming else response.content).decode()
        for name in ("client_id", "kid", "uid", "sid", "family", "delivery_id"):
            assert objects_b[name] not in body, (operation.label, name)
    # A's token at B's own URL: never found there.
    at_b = _url(operation, b.slug, objects_b)
    assert _call(http, operation.method.upper(), at_b, matrix["token_a"]).status_code == 401, operation.label
    # No token, an expired token: 401 with a Bearer challenge.
    for token in (None, matrix["expired_a"]):
        refused = _call(http, operation.method.upper(), at_b.replace(f"/t/{b.slug}/", f"/t/{a.slug}/"), token)
        assert refused.status_code == 401 and refused["WWW-Authenticate"].startswith("Bearer"), operation.label
        assert refused["Content-Type"] == "application/problem+json"
    # No admin scope: 403; read-only on a change: 403.
    at_a = _url(operation, a.slug, objects_of(a))
    assert _call(http, operation.method.upper(), at_a, matrix["plain_a"]).status_code == 403, operation.label
    if operation.method.upper() in WRITES:
        assert _call(http, operation.method.upper(), at_a, matrix["reader_a"]).status_code == 403, operation.label


@pytest.mark.parametrize("operation", PLATFORM_OPERATIONS, ids=lambda operation: operation.label)
def test_a_tenant_admin_token_is_nothing_on_the_platform_api(operation, matrix):
    url = _url(operation, "", {"slug": matrix["b"].slug})
    assert _call(Client(), operation.method.upper(), url, matrix["token_a"]).status_code == 401, operation.label
    assert _call(Client(), operation.method.upper(), url, None).status_code == 401, operation.label


def test_a_person_gets_admin_scopes_only_as_far_as_their_role_goes(live_server, admin_a):
    """The code flow: the same client, allowed admin:read and admin:write, asked for both. The
    full admin's token carries both; a plain user's carries neither and gets 403."""
    issuer = f"{live_server.url}/t/{admin_a.slug}"
    web = admin_a.world.web
    with tenant_context(admin_a.tenant):
        type(web.application).objects.filter(pk=web.application.pk).update(admin_scopes=["admin:read", "admin:write"])
    scope = "openid admin:read admin:write"
    results, access = {}, {}
    for username in ("alice", "root", "auditor"):
        browser = Browser(live_server.url)
        page = browser.go(f"{issuer}/login")
        browser.login(page, username, PASSWORD)
        code, request = obtain_code(browser, issuer, web.application.client_id, scope=scope)
        tokens = exchange(issuer, code, request, web.application.client_id, web.client_secret).json()
        api = f"{issuer}/api/v1/clients/"
        headers = {"Authorization": f"Bearer {tokens['access_token']}"}
        access[username] = tokens["access_token"]
        # An ID token is never an access token (DOT would have taken it for one: a 500 here).
        as_bearer = requests.get(api, headers={"Authorization": f"Bearer {tokens['id_token']}"})
        assert as_bearer.status_code == 401, as_bearer.text
        results[username] = (set(tokens["scope"].split()) - {"openid"}, requests.get(api, headers=headers).status_code,
                             requests.post(api, json={}, headers=headers).status_code)
    assert results["alice"] == (set(), 403, 403)
    assert results["auditor"] == ({"admin:read"}, 200, 403)
    assert results["root"] == ({"admin:read", "admin:write"}, 200, 400)  # 400: the empty body, so allowed

    # A role lowered after the token was issued: the token keeps its scopes, the role decides.
    automation = {"Authorization": f"Bearer {client_credentials_token(admin_a.slug, admin_a.writer_client)}"}
    users = f"{issuer}/api/v1/users"
    for user, role in ((admin_a.reader, "full"), (admin_a.admin, "read_only")):
        assert requests.patch(f"{users}/{user.uid}/", json={"admin_role": role}, headers=automation).ok
    root = {"Authorization": f"Bearer {access['root']}"}
    assert requests.get(f"{issuer}/api/v1/clients/", headers=root).status_code == 200
    assert requests.post(f"{issuer}/api/v1/clients/", json={}, headers=root).status_code == 403
