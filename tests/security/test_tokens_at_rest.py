"""Tokens at rest (RFC 9700 §4.14, OWASP ASVS V3.5): a database dump yields nothing usable.

After real flows, no raw access token, refresh token, authorization code or client secret may
appear anywhere in the database: token columns stay blank, only SHA-256 or keyed HMAC digests.
"""

from __future__ import annotations

import hashlib
import json

import pytest
from django.contrib.sessions.models import Session
from django.db import connection

from idp.crypto import client_secret_digest
from idp.models import AccessToken, Application, Grant, RefreshToken
from tenants.context import tenant_context
from tests.oidc import Browser
from tests.security.flows import (
    exchange,
    full_flow,
    obtain_code,
    refresh,
    token_request,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _as_tenant_a(world_a):
    """Read the database as tenant A: on PostgreSQL, row-level security shows no rows without
    a tenant, and every flow here runs in tenant A."""
    with tenant_context(world_a.tenant):
        yield


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _secrets_after_real_use(live_server, issuer, world) -> dict[str, list[str]]:
    """Run code, refresh, client-credentials and native flows; return every bearer value seen."""
    client_id, secret = world.web.application.client_id, world.web.client_secret
    browser = Browser(live_server.url)
    first = full_flow(browser, issuer, world)
    refreshed = refresh(issuer, first["refresh_token"], client_id, secret)
    assert refreshed.status_code == 200, refreshed.text
    refreshed = refreshed.json()
    machine = token_request(issuer, {"grant_type": "client_credentials"}, client_id, secret)
    assert machine.status_code == 200, machine.text
    machine = machine.json()
    spa_code, spa_request = obtain_code(browser, issuer, world.spa.application.client_id,
                                        "http://127.0.0.1/callback")
    native = exchange(issuer, spa_code, spa_request, world.spa.application.client_id, None, auth="none")
    assert native.status_code == 200, native.text
    native = native.json()
    pending_code, _ = obtain_code(browser, issuer, client_id)  # issued, never redeemed
    return {
        "access_token": [first["access_token"], refreshed["access_token"], machine["access_token"],
                         native["access_token"]],
        "refresh_token": [first["refresh_token"], refreshed["refresh_token"], native["refresh_token"]],
        "code": [first["code"], spa_code, pending_code],
        "client_secret": [secret, world.first_party.client_secret],
    }


def test_token_tables_hold_only_digests(live_server, issuer_a, world_a):
    seen = _secrets_after_real_use(live_server, issuer_a, world_a)
    # The first access token was retired by the refresh; JWT access tokens (if any) are stateless.
    opaque_access = [t for t in seen["access_token"][1:] if t.count(".") != 2]
    assert opaque_access

    access_rows = list(AccessToken.unscoped.values("token", "token_checksum"))
    assert access_rows, "no access tokens were stored"
    assert all(row["token"] == "" for row in access_rows), "raw access tokens in AccessToken.token"
    checksums = {row["token_checksum"] for row in access_rows}
    for token in opaque_access:
        assert _sha256(token) in checksums, "an opaque access token was not stored as its SHA-256"

    refresh_rows = list(RefreshToken.unscoped.values("token", "token_checksum"))
    assert refresh_rows and all(row["token"] == "" for row in refresh_rows), "raw refresh tokens stored"
    refresh_checksums = {row["token_checksum"] for row in refresh_rows}
    for token in seen["refresh_token"]:
        assert _sha256(token) in refresh_checksums

    codes = {row["code"] for row in Grant.unscoped.values("code")}
    for code in seen["code"]:
        assert code not in codes, "a raw authorization code is stored"
        assert _sha256(code) in codes, "an authorization code was not stored as its SHA-256"

    stored_secrets = dict(Application.unscoped.values_list("client_id", "client_secret"))
    web, first_party = world_a.web, world_a.first_party
    for client in (web, first_party):
        stored = stored_secrets[client.application.client_id]
        assert stored == client_secret_digest(client.client_secret), "client secret not stored as keyed HMAC"
        assert client.client_secret not in stored and stored != _sha256(client.client_secret)
    assert stored_secrets[world_a.spa.application.client_id] == "", "a public client has a secret"


@pytest.mark.parametrize("model", [AccessToken, RefreshToken, Grant, Application])
def test_no_raw_secret_in_any_column_of_the_oauth_tables(live_server, issuer_a, world_a, model):
    seen = _secrets_after_real_use(live_server, issuer_a, world_a)
    rows = list(model.unscoped.values())
    assert rows
    for row in rows:
        for column, value in row.items():
            text = value.decode("latin-1") if isinstance(value, (bytes, memoryview)) else str(value)
            for kind, values in seen.items():
                for raw in values:
                    assert raw not in text, f"raw {kind} in {model.__name__}.{column}"


def _cells(table: str):
    quoted = connection.ops.quote_name(table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {quoted}")
        columns = [c[0] for c in cursor.description]
        for record in cursor.fetchall():
            for column, value in zip(columns, record, strict=True):
                if isinstance(value, memoryview):
                    value = value.tobytes()
                yield column, value.decode("latin-1") if isinstance(value, bytes) else str(value)


def test_no_raw_secret_anywhere_in_the_database(live_server, issuer_a, world_a):
    seen = _secrets_after_real_use(live_server, issuer_a, world_a)
    tables = connection.introspection.table_names()
    assert "django_session" in tables
    digest_seen = False  # the control: the scan does see what the live server wrote
    for table in tables:
        for column, text in _cells(table):
            digest_seen = digest_seen or _sha256(seen["refresh_token"][-1]) in text
            for kind, values in seen.items():
                for raw in values:
                    assert raw not in text, f"raw {kind} stored in {table}.{column}"
    assert digest_seen, "the scan did not find the refresh token's digest"
    audit_rows = list(_cells("audit_auditevent"))
    assert any(text == "token.refreshed" for _column, text in audit_rows), "the scan missed the audit trail"
    # Sessions are encoded: look inside them too.
    for session in Session.objects.all():
        decoded = json.dumps(session.get_decoded(), default=str)
        for kind, values in seen.items():
            assert not any(raw in decoded for raw in values), f"raw {kind} inside a session"
