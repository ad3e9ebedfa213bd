"""The admin API's clients: create (secret once), list, read, change, rotate the secret, delete."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

from django.test import Client

from audit.models import Action, AuditEvent
from idp.models import Application
from idp.services.clients import NewClient
from tenants.context import tenant_context
from tests.api.conftest import FORM, Api, client_credentials_token


def _cc(slug: str, client_id: str, secret: str) -> int:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return Client().post(f"/t/{slug}/token", urlencode({"grant_type": "client_credentials"}), content_type=FORM,
                         HTTP_AUTHORIZATION=f"Basic {basic}").status_code


def test_a_client_is_managed_end_to_end_and_its_secret_is_shown_once(admin_a, api_a: Api):
    created = api_a.post("clients/", {"name": "Billing", "confidential": True, "grant_types": ["client_credentials"]})
    assert created.status_code == 201, created.content
    body = created.json()
    client_id, secret = body["client_id"], body["client_secret"]
    assert len(secret) >= 43 and _cc(admin_a.slug, client_id, secret) == 200

    read = api_a.get(f"clients/{client_id}/")
    assert read.status_code == 200 and "client_secret" not in read.json()
    listed = api_a.get("clients/", name="Billing").json()
    assert [c["client_id"] for c in listed["results"]] == [client_id]
    assert secret not in api_a.get("clients/").content.decode()

    changed = api_a.patch(f"clients/{client_id}/", {"name": "Billing v2"})
    assert changed.status_code == 200 and changed.json()["name"] == "Billing v2"

    rotated = api_a.post(f"clients/{client_id}/rotate-secret/")
    assert rotated.status_code == 200
    assert _cc(admin_a.slug, client_id, secret) == 401
    assert _cc(admin_a.slug, client_id, rotated.json()["client_secret"]) == 200

    assert api_a.delete(f"clients/{client_id}/").status_code == 204
    assert api_a.get(f"clients/{client_id}/").status_code == 404


def test_invalid_input_is_a_problem_document_naming_the_fields(api_a: Api):
    response = api_a.post("clients/", {"name": "", "grant_types": ["password"]})
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:tessera:problem:validation-error" and problem["status"] == 400
    assert {e["field"] for e in problem["errors"]} >= {"name", "grant_types.0", "confidential"}
    # A combination the service refuses (client credentials for a public client) is a 400 too.
    refused = api_a.post("clients/", {"name": "x", "confidential": False, "grant_types": ["client_credentials"]})
    assert refused.status_code == 400 and refused["Content-Type"] == "application/problem+json"


def test_scopes_and_roles_decide_who_reads_and_who_writes(admin_a):
    reader = Api(client_credentials_token(admin_a.slug, admin_a.reader_client, "admin:read"), admin_a.base)
    assert reader.get("clients/").status_code == 200
    refused = reader.post("clients/", {"name": "x", "confidential": True, "grant_types": ["client_credentials"]})
    assert refused.status_code == 403 and refused["Content-Type"] == "application/problem+json"
    # A client not given the admin scopes cannot even obtain them (invalid_scope).
    basic = base64.b64encode(
        f"{admin_a.plain_client.application.client_id}:{admin_a.plain_client.client_secret}".encode()).decode()
    asked = Client().post(f"/t/{admin_a.slug}/token",
                          urlencode({"grant_type": "client_credentials", "scope": "admin:read"}),
                          content_type=FORM, HTTP_AUTHORIZATION=f"Basic {basic}")
    assert asked.status_code == 400 and asked.json()["error"] == "invalid_scope"
    plain = Api(client_credentials_token(admin_a.slug, admin_a.plain_client, ""), admin_a.base)
    assert plain.get("clients/").status_code == 403
    anonymous = Api(None, admin_a.base).get("clients/")
    assert anonymous.status_code == 401 and anonymous["WWW-Authenticate"].startswith("Bearer")


def test_a_token_of_tenant_a_never_works_at_tenant_b(admin_a, admin_b, api_a: Api):
    response = api_a.get(f"{admin_b.base}/clients/")
    assert response.status_code == 401
    b_client = admin_b.writer_client.application.client_id
    assert api_a.get(f"clients/{b_client}/").status_code == 404


def test_secrets_are_never_cached_and_a_scope_taken_from_a_client_leaves_its_tokens(admin_a, api_a: Api):
    created = api_a.post("clients/", {"name": "Ops", "confidential": True, "grant_types": ["client_credentials"],
                                      "admin_scopes": ["admin:read", "admin:write"]})
    assert created.status_code == 201 and created["Cache-Control"] == "no-store"
    client_id = created.json()["client_id"]
    assert api_a.post(f"clients/{client_id}/rotate-secret/")["Cache-Control"] == "no-store"
    assert "no-store" not in api_a.get(f"clients/{client_id}/").get("Cache-Control", "")

    ops = Api(client_credentials_token(admin_a.slug, admin_a.writer_client), admin_a.base)
    assert ops.get("clients/").status_code == 200
    # The automation client loses admin:write: its live token can still read, no longer write.
    changed = api_a.patch(f"clients/{admin_a.writer_client.application.client_id}/", {"admin_scopes": ["admin:read"]})
    assert changed.status_code == 200 and changed.json()["admin_scopes"] == ["admin:read"]
    assert ops.get("clients/").status_code == 200
    assert ops.post("clients/", {"name": "x", "confidential": True,
                                 "grant_types": ["client_credentials"]}).status_code == 403


def test_a_client_credentials_jwt_works_until_revoked(admin_a, api_a: Api):
    """RFC 9068 access tokens of client credentials have no row: the API verifies them as
    introspection does (signature, issuer, typ, expiry, the deny list)."""
    created = api_a.post("clients/", {"name": "Robot", "confidential": True, "grant_types": ["client_credentials"],
                                      "access_token_format": "jwt", "admin_scopes": ["admin:read"]}).json()
    with tenant_context(admin_a.tenant):
        robot = NewClient(application=Application.objects.get(client_id=created["client_id"]),
                          client_secret=created["client_secret"])
    token = client_credentials_token(admin_a.slug, robot, "admin:read")
    assert token.count(".") == 2
    jwt_api = Api(token, admin_a.base)
    assert jwt_api.get("clients/").status_code == 200
    assert jwt_api.post("clients/", {}).status_code == 403  # admin:read only
    header, payload, signature = token.split(".")
    forged = Api(f"{header}.{payload}.{signature[:-4]}AAAA", admin_a.base)
    assert forged.get("clients/").status_code == 401

    basic = base64.b64encode(f"{created['client_id']}:{created['client_secret']}".encode()).decode()
    revoked = Client().post(f"/t/{admin_a.slug}/revoke", urlencode({"token": token}), content_type=FORM,
                            HTTP_AUTHORIZATION=f"Basic {basic}")
    assert revoked.status_code == 200
    assert jwt_api.get("clients/").status_code == 401


def test_each_token_has_its_own_request_budget(admin_a, api_a: Api):
    from tenants.services import update_policy

    update_policy(admin_a.tenant, ratelimit_api_per_token=3)  # the tenant's policy (issue 15)
    assert [api_a.get("clients/").status_code for _ in range(3)] == [200, 200, 200]
    over = api_a.get("clients/")
    assert over.status_code == 429 and over["Content-Type"] == "application/problem+json"
    assert 0 < int(over["Retry-After"]) <= 60 and over.json()["status"] == 429
    assert api_a.get("clients/").status_code == 429
    with tenant_context(admin_a.tenant):  # audited once (sampled), with the limit and no token
        [event] = AuditEvent.objects.filter(action=Action.RATE_LIMITED)
    assert event.details["scope"] == "api.token" and event.details["limit"] == 3 and not event.subject
    # Another token (here another client's) has its own budget.
    reader = Api(client_credentials_token(admin_a.slug, admin_a.reader_client, "admin:read"), admin_a.base)
    assert reader.get("clients/").status_code == 200
