"""Tessera as deployed: nginx with TLS in front of gunicorn nodes on settings.production,
pgbouncer, Redis, a worker, beat and the audit shipper (devtools/prodlike.py, `make prod-like`).

What only this topology shows: `check --deploy` clean with production's real settings, an https
issuer, HSTS and Secure cookies as a browser receives them through the proxy, the client's
address (not the proxy's) in the audit trail, and the OpenID flows through all of it.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from requests.adapters import HTTPAdapter

from devtools.prodlike import ROOT, Demo, ProdLike, authorize, run_flows
from tests.oidc import RelyingParty

# One topology per session: keep these tests on one xdist worker (with --dist loadgroup).
pytestmark = [pytest.mark.prodlike, pytest.mark.xdist_group("prodlike")]


def admin_token(prodlike: ProdLike, demo: Demo, scope: str = "admin:read", base: str | None = None) -> str:
    """An admin API token of the tenant's automation client (client credentials)."""
    response = prodlike.session().post(f"{base or prodlike.url}/t/{demo.slug}/token",
                                       data={"grant_type": "client_credentials", "scope": scope},
                                       headers={"Authorization": demo.basic("admin")}, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def audit_events(prodlike: ProdLike, demo: Demo, **filters: Any) -> list[dict[str, Any]]:
    token = admin_token(prodlike, demo)
    response = prodlike.session().get(f"{demo.issuer}/api/v1/audit/events/", params=filters, timeout=10,
                                      headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.text
    return response.json()["results"]


def test_check_deploy_is_clean_with_the_production_settings(prodlike):
    result = prodlike.check_deploy()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_discovery_through_nginx_names_an_https_issuer(prodlike, demo):
    metadata = prodlike.session().get(f"{demo.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert metadata["issuer"] == demo.issuer == f"https://localhost:{prodlike.https_port}/t/acme"
    for endpoint in ("authorization_endpoint", "token_endpoint", "userinfo_endpoint", "jwks_uri",
                     "revocation_endpoint", "introspection_endpoint", "end_session_endpoint"):
        assert metadata[endpoint].startswith(f"{demo.issuer}/"), (endpoint, metadata[endpoint])


def test_pages_through_nginx_carry_hsts_and_only_secure_cookies(prodlike, demo):
    page = prodlike.session().get(f"{demo.issuer}/login", timeout=10)
    assert page.status_code == 200
    hsts = page.headers["Strict-Transport-Security"]
    assert "max-age=31536000" in hsts and "includeSubDomains" in hsts and "preload" not in hsts
    cookies = page.raw.headers.getlist("Set-Cookie")
    assert cookies, "the login page sets its CSRF cookie"
    for cookie in cookies:
        assert "; Secure" in cookie and "HttpOnly" in cookie, cookie


def test_plain_http_is_sent_to_https_by_nginx_and_by_django(prodlike, demo):
    at_nginx = requests.get(f"http://localhost:{prodlike.http_port}/t/acme/login", allow_redirects=False,
                            timeout=10)
    assert at_nginx.status_code == 301
    assert at_nginx.headers["Location"] == f"{demo.issuer}/login"
    # A node reached without nginx's X-Forwarded-Proto is not trusted to be https (SECURE_PROXY_SSL_HEADER).
    at_node = requests.get(f"{prodlike.node_url(0)}/t/acme/login", allow_redirects=False, timeout=10)
    assert at_node.status_code == 301 and at_node.headers["Location"].startswith("https://")
    # Probes reach the nodes over http and get their answer, not a redirect.
    assert requests.get(f"{prodlike.node_url(0)}/healthz", timeout=10).status_code == 200


class FromAddress(HTTPAdapter):
    """Connects from the given loopback address, so nginx sees a client that is not itself."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def test_the_audit_trail_records_the_clients_address_not_nginxs_nor_a_forged_one(prodlike, demo):
    client_address = "127.0.0.9"  # nginx reaches the nodes from 127.0.0.1
    seen = [event["seq"] for event in audit_events(prodlike, demo, action="auth.login.succeeded")]
    http = prodlike.session()
    http.mount("https://", FromAddress(client_address))
    # A client may send any X-Forwarded-For; nginx appends the address it saw, and only that
    # last entry is believed (TESSERA_TRUSTED_PROXY_COUNT=1).
    http.headers["X-Forwarded-For"] = "203.0.113.7"
    callback = authorize(
        http, f"{demo.issuer}/authorize?response_type=code&client_id={demo.web_client_id}"
              f"&redirect_uri={demo.web_redirect_uri}&scope=openid&state=s&code_challenge="
              "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256",
        username=demo.username, password=demo.password)
    assert callback.startswith(demo.web_redirect_uri)
    session_cookies = [c for c in http.cookies if c.name == "tessera_session"]
    assert session_cookies and all(c.secure for c in session_cookies)

    new = [event for event in audit_events(prodlike, demo, action="auth.login.succeeded")
           if event["seq"] not in seen]
    assert [event["ip"] for event in new] == [client_address]


def test_code_flow_with_pkce_and_refresh_through_nginx(prodlike, demo, trust_ca):
    """An Authlib relying party configured from discovery alone, over https checked against the CA."""
    rp = RelyingParty(demo.issuer, demo.web_client_id, demo.web_client_secret, demo.web_redirect_uri)
    url, pending = rp.authorization_url()
    callback = authorize(prodlike.session(), url, username=demo.username, password=demo.password)
    tokens = rp.exchange(callback, pending)
    claims = rp.verify_id_token(tokens["id_token"], nonce=pending["nonce"])
    assert claims["iss"] == demo.issuer and "pwd" in claims["amr"]
    userinfo = rp.session.get(rp.metadata["userinfo_endpoint"], timeout=10).json()
    assert userinfo["sub"] == claims["sub"] and userinfo["email"] == "alice@acme.example"
    refreshed = rp.session.refresh_token(rp.metadata["token_endpoint"], refresh_token=tokens["refresh_token"])
    assert refreshed["access_token"] != tokens["access_token"]
    assert refreshed["refresh_token"] != tokens["refresh_token"]


def test_client_credentials_through_nginx(prodlike, demo, trust_ca):
    rp = OAuth2Session(demo.web_client_id, demo.web_client_secret, token_endpoint_auth_method="client_secret_basic")
    token = rp.fetch_token(f"{demo.issuer}/token", grant_type="client_credentials")
    introspected = requests.post(f"{demo.issuer}/introspect", data={"token": token["access_token"]},
                                 auth=(demo.web_client_id, demo.web_client_secret), timeout=10).json()
    assert introspected["active"] is True and introspected["client_id"] == demo.web_client_id


def test_the_public_client_flow_the_cli_runs(prodlike, demo):
    """What `make prod-like` runs: the code flow of the public (PKCE) native client with its
    consent page, the ID token checked against the JWKS, userinfo, then client credentials."""
    shown = run_flows(prodlike, demo)
    assert len(shown) == 3


def test_make_prod_like_check_passes(prodlike_tools):
    """`python devtools/prodlike.py --check` (what `make prod-like` runs, then exits): its own
    topology up, check --deploy clean, the flows served, everything stopped again."""
    result = subprocess.run([sys.executable, "devtools/prodlike.py", "--check", "--web-nodes", "1"], cwd=ROOT,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "check --deploy --fail-level WARNING: clean" in result.stdout
    assert "All checks passed." in result.stdout
