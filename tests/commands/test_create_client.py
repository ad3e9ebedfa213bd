"""manage.py create_client"""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.core.management import call_command

from idp.crypto import CLIENT_SECRET_PREFIX, client_secret_digest, verify_client_secret
from idp.models import Application
from tenants.context import tenant_context
from tenants.services import create_tenant
from tests.commands.conftest import assert_usage_error

CONFIDENTIAL = ("create_client", "--tenant", "acme", "--name", "Web", "--confidential")
PUBLIC = ("create_client", "--tenant", "acme", "--name", "Native", "--public")
CALLBACK = ("--redirect-uri", "https://rp.example.test/callback")


@pytest.fixture
def acme_cli(manage):
    manage.ok("create_tenant", "acme", "--name", "Acme Corp")
    return manage


def test_confidential_client_in_process_stores_only_a_keyed_digest(db):
    acme = create_tenant("acme", "Acme Corp")
    out = StringIO()
    call_command(*CONFIDENTIAL, "--grant", "authorization_code", "--grant", "refresh_token",
                 "--grant", "client_credentials", *CALLBACK, "--json", stdout=out)
    printed = json.loads(out.getvalue())
    assert set(printed) == {"client_id", "client_secret"}
    secret = printed["client_secret"]
    assert len(secret) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", secret)

    with tenant_context(acme):
        app = Application.objects.get(client_id=printed["client_id"])
    assert app.client_secret.startswith(CLIENT_SECRET_PREFIX)
    assert re.fullmatch(r"hmac-sha256\$[0-9a-f]{64}", app.client_secret)
    assert secret not in app.client_secret
    assert app.client_secret == client_secret_digest(secret)
    assert verify_client_secret(secret, app.client_secret)
    assert not verify_client_secret(secret[:-1] + ("A" if secret[-1] != "A" else "B"), app.client_secret)
    assert app.grant_types == ["authorization_code", "refresh_token", "client_credentials"]
    assert app.client_type == Application.CLIENT_CONFIDENTIAL
    assert app.redirect_uris == "https://rp.example.test/callback"
    assert app.tenant_id == acme.pk


def test_public_client_json_has_null_secret(acme_cli):
    result = acme_cli.ok(*PUBLIC, "--grant", "authorization_code", "--redirect-uri",
                         "http://127.0.0.1/callback", "--json")
    printed = json.loads(result.stdout)
    assert set(printed) == {"client_id", "client_secret"} and printed["client_secret"] is None
    assert acme_cli.query("SELECT client_type, client_secret FROM idp_application WHERE client_id = ?",
                          (printed["client_id"],)) == [("public", "")]


def test_confidential_client_subprocess_database_holds_no_secret(acme_cli):
    result = acme_cli.ok(*CONFIDENTIAL, "--grant", "authorization_code", "--grant", "refresh_token",
                         *CALLBACK, "--json")
    printed = json.loads(result.stdout)
    secret = printed["client_secret"]
    assert len(secret) >= 43
    [(stored, grants)] = acme_cli.query(
        "SELECT client_secret, grant_types FROM idp_application WHERE client_id = ?", (printed["client_id"],))
    assert stored.startswith("hmac-sha256$") and stored == acme_cli.client_secret_digest(secret)
    assert json.loads(grants) == ["authorization_code", "refresh_token"]
    assert secret.encode() not in acme_cli.db_path.read_bytes()


def test_human_output_shows_the_secret_once(acme_cli):
    result = acme_cli.ok(*CONFIDENTIAL, "--grant", "client_credentials")
    lines = result.stdout.splitlines()
    assert lines[0].startswith("client_id:") and lines[1].startswith("client_secret:")
    secret = lines[1].split()[1]
    [(stored,)] = acme_cli.query("SELECT client_secret FROM idp_application")
    assert stored == acme_cli.client_secret_digest(secret)
    public = acme_cli.ok(*PUBLIC, "--grant", "authorization_code", *CALLBACK)
    assert [line.split(":")[0] for line in public.stdout.splitlines()] == ["client_id"]


@pytest.mark.parametrize("redirect", [
    "https://rp.example.test/callback",
    "http://127.0.0.1/callback",
    "http://127.0.0.1:8080/callback",
    "http://[::1]/callback",
    "http://localhost:3000/callback",
    "com.example.app:/oauth2redirect",
])
def test_acceptable_redirect_uris(db, redirect):
    acme = create_tenant("acme", "Acme Corp")
    out = StringIO()
    call_command(*PUBLIC, "--grant", "authorization_code", "--redirect-uri", redirect, "--json", stdout=out)
    with tenant_context(acme):
        app = Application.objects.get(client_id=json.loads(out.getvalue())["client_id"])
    assert app.redirect_uris == redirect and app.client_secret == ""


@pytest.mark.parametrize("redirect", [
    "http://rp.example.test/callback",  # plain http off the loopback
    "https://*.example.test/callback",  # wildcards
    "https://rp.example.test/*",
    "https://rp.example.test/callback#frag",
    "javascript:alert(1)",
])
def test_refused_redirect_uris(acme_cli, redirect):
    assert_usage_error(acme_cli(*CONFIDENTIAL, "--grant", "authorization_code", "--redirect-uri", redirect))
    assert acme_cli.query("SELECT count(*) FROM idp_application") == [(0,)]


def test_refused_post_logout_redirect_uri(acme_cli):
    assert_usage_error(acme_cli(*CONFIDENTIAL, "--grant", "authorization_code", *CALLBACK,
                                "--post-logout-redirect-uri", "http://rp.example.test/bye"))


def test_authorization_code_needs_a_redirect_uri(acme_cli):
    assert_usage_error(acme_cli(*CONFIDENTIAL, "--grant", "authorization_code"), "redirect")
    assert_usage_error(acme_cli(*PUBLIC, "--grant", "authorization_code", "--grant", "refresh_token"))
    assert acme_cli.query("SELECT count(*) FROM idp_application") == [(0,)]


def test_grant_rules(acme_cli):
    # client_credentials needs a secret; refresh_token comes only with authorization_code.
    assert_usage_error(acme_cli(*PUBLIC, "--grant", "client_credentials"), "confidential")
    assert_usage_error(acme_cli(*CONFIDENTIAL, "--grant", "refresh_token", "--grant", "client_credentials"))
    # implicit and password do not exist here: argparse refuses them before anything runs.
    for grant in ("implicit", "password", "urn:ietf:params:oauth:grant-type:device_code"):
        assert assert_usage_error(acme_cli(*CONFIDENTIAL, "--grant", grant, *CALLBACK)).startswith("error: ")
    assert acme_cli.query("SELECT count(*) FROM idp_application") == [(0,)]


def test_usage_errors(acme_cli):
    cases = [
        ("create_client", "--tenant", "acme", "--name", "X", "--grant", "client_credentials"),  # no kind
        (*CONFIDENTIAL, "--public", "--grant", "client_credentials"),  # both kinds
        (*CONFIDENTIAL,),  # no --grant
        ("create_client", "--tenant", "acme", "--confidential", "--grant", "client_credentials"),  # no name
        (*CONFIDENTIAL, "--grant", "client_credentials", "--algorithm", "HS256"),
    ]
    for args in cases:
        assert assert_usage_error(acme_cli(*args)).startswith("error: "), args
    assert_usage_error(acme_cli("create_client", "--tenant", "nope", "--name", "X", "--confidential",
                                "--grant", "client_credentials"), "unknown tenant")
    assert acme_cli.query("SELECT count(*) FROM idp_application") == [(0,)]
