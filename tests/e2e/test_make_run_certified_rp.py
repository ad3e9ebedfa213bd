"""`make run` serves a working IdP: pyoidc (an OpenID-certified RP library) signs in against it.

This starts the real `make run` (SQLite file, demo tenant, Django's server) on a free port,
reads the demo client's secret from what it prints, and runs the code flow with PKCE,
ID token verification, userinfo, refresh and RP-initiated logout through pyoidc.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from oic import rndstr
from oic.oic import Client
from oic.oic.message import AccessTokenResponse, AuthorizationResponse, RegistrationResponse
from oic.utils.authn.client import CLIENT_AUTHN_METHOD

from tests.make_run import make_run as start_make_run
from tests.oidc import Browser

REDIRECT = "http://127.0.0.1:8080/callback"


@pytest.fixture(scope="module")
def make_run(tmp_path_factory):
    """`make run` on a free port with its own SQLite file; yields (issuer, printed output)."""
    with start_make_run(tmp_path_factory.mktemp("make-run")) as running:
        yield running


def _client(issuer: str, output: str) -> Client:
    secret = re.search(r"client_secret:\s+(\S+)", output).group(1)
    client = Client(client_authn_method=CLIENT_AUTHN_METHOD)
    client.provider_config(issuer)  # discovery + JWKS; pyoidc checks the issuer matches
    client.store_registration_info(
        RegistrationResponse(client_id="demo-web", client_secret=secret, redirect_uris=[REDIRECT])
    )
    client.redirect_uris = [REDIRECT]
    return client


def test_make_run_prints_what_a_relying_party_needs(make_run):
    issuer, output = make_run
    assert issuer in output
    assert "demo / correct-horse-battery-staple" in output
    assert "client_id:     demo-web" in output and "client_id:     demo-spa" in output


def test_pyoidc_code_flow_against_make_run(make_run):
    issuer, output = make_run
    client = _client(issuer, output)
    state, nonce = rndstr(16), rndstr(16)
    pkce, verifier = client.add_code_challenge()
    request = client.construct_AuthorizationRequest(request_args={
        "client_id": client.client_id, "response_type": "code", "scope": ["openid", "profile", "email"],
        "nonce": nonce, "state": state, "redirect_uri": REDIRECT, **pkce,
    })
    browser = Browser(f"{urlsplit(issuer).scheme}://{urlsplit(issuer).netloc}")
    page = browser.go(request.request(client.authorization_endpoint))
    page = browser.login(page, "demo", "correct-horse-battery-staple")
    if 'name="allow"' in page.text:
        page = browser.submit(page, {"allow": "1"})
    assert page.is_redirect and page.headers["Location"].startswith(REDIRECT)

    authz = client.parse_response(AuthorizationResponse, info=urlsplit(page.headers["Location"]).query,
                                  sformat="urlencoded")
    assert authz["state"] == state and authz["iss"] == issuer
    token = client.do_access_token_request(
        state=state, request_args={"code": authz["code"], "code_verifier": verifier},
        authn_method="client_secret_basic",
    )
    assert isinstance(token, AccessTokenResponse), token
    id_token = token["id_token"]  # pyoidc verified signature (JWKS, kid), iss, aud, exp
    assert id_token["iss"] == issuer and id_token["nonce"] == nonce and id_token["aud"] == ["demo-web"]

    userinfo = client.do_user_info_request(state=state)
    assert userinfo["sub"] == id_token["sub"] and userinfo["preferred_username"] == "demo"

    refreshed = client.do_access_token_refresh(state=state, authn_method="client_secret_basic")
    assert isinstance(refreshed, AccessTokenResponse), refreshed
    assert refreshed["access_token"] != token["access_token"]

    logout = browser.go(
        f"{issuer}/logout?id_token_hint={token['id_token'].jwt}"
        f"&post_logout_redirect_uri={REDIRECT}&state=bye"
    )
    assert logout.is_redirect and logout.headers["Location"] == f"{REDIRECT}?state=bye"
