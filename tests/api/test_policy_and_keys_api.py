"""The admin API's security policy and signing keys."""

from __future__ import annotations

from django.test import Client

from audit.models import Action, AuditEvent
from tenants.context import tenant_context
from tests.api.conftest import Api, client_credentials_token


def test_the_policy_is_read_and_changed_and_the_change_is_audited(admin_a, api_a: Api):
    policy = api_a.get("policy/")
    assert policy.status_code == 200 and policy.json()["mfa"] == "optional"
    changed = api_a.patch("policy/", {"mfa": "required_for_admins", "password_min_length": 14})
    assert changed.status_code == 200, changed.content
    assert changed.json()["mfa"] == "required_for_admins" and changed.json()["password_min_length"] == 14
    assert api_a.get("policy/").json()["password_min_length"] == 14
    with tenant_context(admin_a.tenant):
        event = AuditEvent.objects.filter(action=Action.POLICY_UPDATED).order_by("-seq").first()
    assert event.actor_id == admin_a.writer_client.application.client_id
    assert event.details["changes"]["mfa"] == {"from": "optional", "to": "required_for_admins"}

    refused = api_a.patch("policy/", {"audit_retention_days": 7, "signing_algorithms": ["HS256"]})
    assert refused.status_code == 400
    assert {e["field"] for e in refused.json()["errors"]} == {"audit_retention_days", "signing_algorithms"}
    assert api_a.get("policy/").json()["audit_retention_days"] == 365


def test_keys_are_listed_rotated_and_revoked_in_an_emergency(admin_a, api_a: Api):
    keys = api_a.get("keys/").json()
    assert {(k["alg"], k["state"]) for k in keys} == {("RS256", "active"), ("ES256", "active")}
    assert all("d" not in k["public_jwk"] and "encrypted_private_key" not in k for k in keys)

    rotated = api_a.post("keys/rotate/")
    assert rotated.status_code == 200, rotated.content
    states = [(k["alg"], k["state"]) for k in rotated.json()["keys"]]
    assert states.count(("RS256", "next")) == 1 and states.count(("ES256", "next")) == 1
    assert api_a.get("keys/", state="next").json() and len(api_a.get("keys/", state="next").json()) == 2

    active_rs = next(k for k in keys if k["alg"] == "RS256")
    revoked = api_a.post(f"keys/{active_rs['kid']}/revoke/")
    assert revoked.status_code == 200
    jwks = Client().get(f"/t/{admin_a.slug}/jwks.json").json()
    assert active_rs["kid"] not in {k["kid"] for k in jwks["keys"]}
    # The emergency revoked every token its clients' algorithm may have had signed meanwhile,
    # this API token too (it errs towards revoking more): a new one works.
    assert api_a.get("keys/").status_code == 401
    api_a.token = client_credentials_token(admin_a.slug, admin_a.writer_client)
    assert api_a.post("keys/no-such-kid/revoke/").status_code == 404
    reader = Api(None, admin_a.base)
    assert reader.post("keys/rotate/").status_code == 401
