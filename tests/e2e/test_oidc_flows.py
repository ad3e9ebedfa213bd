"""End to end: Authlib as the relying party against the live server, a scripted browser as the user."""

from __future__ import annotations

import time

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError

from tests.conftest import NATIVE_REDIRECT, PASSWORD, WEB_REDIRECT
from tests.oidc import Browser, RelyingParty, redirect_params

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in_and_authorize(browser: Browser, rp: RelyingParty, **extra) -> tuple[dict, dict]:
    """Run the front channel: authorize -> login -> consent -> redirect with a code."""
    url, pending = rp.authorization_url(**extra)
    response = browser.go(url)
    if 'name="username"' in response.text:
        response = browser.login(response, "alice", PASSWORD)
    if 'name="allow"' in response.text:
        response = browser.submit(response, {"allow": "1"})
    return redirect_params(response), pending


def callback_url(rp: RelyingParty, params: dict) -> str:
    from urllib.parse import urlencode

    return f"{rp.redirect_uri}?{urlencode(params)}"


def test_discovery_documents_agree(live_server, issuer_a):
    oidc = requests.get(f"{issuer_a}/.well-known/openid-configuration").json()
    rfc8414 = requests.get(f"{live_server.url}/.well-known/oauth-authorization-server/t/acme").json()
    assert oidc == rfc8414
    assert oidc["issuer"] == issuer_a
    assert oidc["code_challenge_methods_supported"] == ["S256"]
    assert oidc["response_types_supported"] == ["code"]
    assert "implicit" not in oidc["grant_types_supported"] and "password" not in oidc["grant_types_supported"]
    assert oidc["authorization_response_iss_parameter_supported"] is True
    jwks = requests.get(oidc["jwks_uri"]).json()["keys"]
    assert {k["alg"] for k in jwks} == {"RS256", "ES256"}
    assert all("d" not in k and "p" not in k for k in jwks), "private key material in the JWKS"


def test_code_flow_with_pkce_refresh_and_revocation(live_server, issuer_a, world_a):
    rp = RelyingParty(issuer_a, world_a.web.application.client_id, world_a.web.client_secret, WEB_REDIRECT)
    browser = Browser(live_server.url)
    params, pending = sign_in_and_authorize(browser, rp)
    assert params["iss"] == issuer_a  # RFC 9207
    assert params["state"] == pending["state"]

    token = rp.exchange(callback_url(rp, params), pending)
    assert token["token_type"] == "Bearer" and token["refresh_token"] and token["id_token"]
    claims = rp.verify_id_token(token["id_token"], nonce=pending["nonce"])
    assert claims["sub"] == str(world_a.user.uid)
    for claim in ("auth_time", "at_hash", "sid", "amr", "acr", "iat"):
        assert claim in claims, claim
    assert claims["amr"] == ["pwd"]

    userinfo = rp.session.get(rp.metadata["userinfo_endpoint"]).json()
    assert userinfo["sub"] == claims["sub"]
    assert userinfo["email"] == "alice@example.com" and userinfo["email_verified"] is True
    assert userinfo["preferred_username"] == "alice"

    # Refresh rotates; the new ID token keeps the original authentication time.
    refreshed = rp.session.refresh_token(rp.metadata["token_endpoint"], refresh_token=token["refresh_token"])
    assert refreshed["refresh_token"] != token["refresh_token"]
    assert refreshed["access_token"] != token["access_token"]
    assert rp.verify_id_token(refreshed["id_token"])["auth_time"] == claims["auth_time"]

    # Revoke, then introspection says inactive.
    auth = (rp.client_id, world_a.web.client_secret)
    assert requests.post(rp.metadata["revocation_endpoint"], auth=auth,
                         data={"token": refreshed["access_token"]}).status_code == 200
    intro = requests.post(rp.metadata["introspection_endpoint"], auth=auth,
                          data={"token": refreshed["access_token"]}).json()
    assert intro == {"active": False}


def test_refresh_token_reuse_revokes_the_family(live_server, issuer_a, world_a):
    rp = RelyingParty(issuer_a, world_a.web.application.client_id, world_a.web.client_secret, WEB_REDIRECT)
    params, pending = sign_in_and_authorize(Browser(live_server.url), rp)
    first = rp.exchange(callback_url(rp, params), pending)
    second = rp.session.refresh_token(rp.metadata["token_endpoint"], refresh_token=first["refresh_token"])

    with pytest.raises(OAuthError) as replay:
        rp.session.refresh_token(rp.metadata["token_endpoint"], refresh_token=first["refresh_token"])
    assert replay.value.error == "invalid_grant"

    # The legitimate holder's newer tokens die with the family.
    with pytest.raises(OAuthError):
        rp.session.refresh_token(rp.metadata["token_endpoint"], refresh_token=second["refresh_token"])
    auth = (rp.client_id, world_a.web.client_secret)
    intro = requests.post(rp.metadata["introspection_endpoint"], auth=auth, data={"token": second["access_token"]})
    assert intro.json() == {"active": False}


def test_public_native_client_with_loopback_port_and_es256(live_server, issuer_a, world_a):
    # RFC 8252 §7.3: the registered loopback URI matches any port.
    redirect = NATIVE_REDIRECT.replace("127.0.0.1", "127.0.0.1:53127")
    rp = RelyingParty(issuer_a, world_a.spa.application.client_id, None, redirect)
    params, pending = sign_in_and_authorize(Browser(live_server.url), rp)
    token = rp.exchange(callback_url(rp, params), pending)
    header = token["id_token"].split(".")[0]
    import base64
    import json

    assert json.loads(base64.urlsafe_b64decode(header + "==")) ["alg"] == "ES256"
    rp.verify_id_token(token["id_token"], nonce=pending["nonce"])


def test_client_credentials_and_introspection(live_server, issuer_a, world_a):
    rp = RelyingParty(issuer_a, world_a.web.application.client_id, world_a.web.client_secret, WEB_REDIRECT,
                      scope="")
    token = rp.session.fetch_token(rp.metadata["token_endpoint"], grant_type="client_credentials")
    assert "refresh_token" not in token and "id_token" not in token
    assert len(token["access_token"]) >= 43  # 256 bits, base64url
    intro = requests.post(rp.metadata["introspection_endpoint"],
                          auth=(rp.client_id, world_a.web.client_secret),
                          data={"token": token["access_token"]}).json()
    assert intro["active"] is True and intro["client_id"] == rp.client_id
    assert intro["iss"] == issuer_a and intro["exp"] > time.time()


def test_prompt_none_before_and_after_login_and_rp_logout(live_server, issuer_a, world_a):
    rp = RelyingParty(issuer_a, world_a.web.application.client_id, world_a.web.client_secret, WEB_REDIRECT)
    browser = Browser(live_server.url)

    url, pending = rp.authorization_url(prompt="none")
    before = redirect_params(browser.go(url))
    assert before["error"] == "login_required" and before["state"] == pending["state"]
    assert before["iss"] == issuer_a

    params, pending = sign_in_and_authorize(browser, rp)
    token = rp.exchange(callback_url(rp, params), pending)

    url, pending = rp.authorization_url(prompt="none")
    after = redirect_params(browser.go(url))
    assert "code" in after and "error" not in after

    # RP-initiated logout with id_token_hint: no confirmation, back to the RP with state.
    response = browser.go(
        f"{issuer_a}/logout?id_token_hint={token['id_token']}"
        f"&post_logout_redirect_uri=https://rp.example.test/bye&state=s1"
    )
    assert response.is_redirect and response.headers["Location"] == "https://rp.example.test/bye?state=s1"
    # The session is gone and the tokens it minted are revoked.
    url, pending = rp.authorization_url(prompt="none")
    assert redirect_params(browser.go(url))["error"] == "login_required"
    intro = requests.post(rp.metadata["introspection_endpoint"],
                          auth=(rp.client_id, world_a.web.client_secret),
                          data={"token": token["refresh_token"], "token_type_hint": "refresh_token"})
    assert intro.json() == {"active": False}


def test_max_age_forces_reauthentication(live_server, issuer_a, world_a):
    rp = RelyingParty(issuer_a, world_a.web.application.client_id, world_a.web.client_secret, WEB_REDIRECT)
    browser = Browser(live_server.url)
    params, pending = sign_in_and_authorize(browser, rp)
    first = rp.verify_id_token(rp.exchange(callback_url(rp, params), pending)["id_token"])
    time.sleep(1.1)
    url, pending = rp.authorization_url(max_age="0")
    response = browser.go(url)
    assert 'name="username"' in response.text, "max_age=0 must ask for the password again"
    response = browser.login(response, "alice", PASSWORD)
    params = redirect_params(response)
    second = rp.verify_id_token(rp.exchange(callback_url(rp, params), pending)["id_token"])
    assert second["auth_time"] > first["auth_time"]


def test_prompt_login_forces_reauthentication_and_login_hint_prefills(live_server, issuer_a, world_a):
    rp = RelyingParty(issuer_a, world_a.web.application.client_id, world_a.web.client_secret, WEB_REDIRECT)
    browser = Browser(live_server.url)
    sign_in_and_authorize(browser, rp)
    url, pending = rp.authorization_url(prompt="login", login_hint="alice@example.com", unknown_param="x")
    response = browser.go(url)
    assert 'name="username"' in response.text
    assert 'value="alice@example.com"' in response.text
    params = redirect_params(browser.login(response, "alice@example.com", PASSWORD))
    assert "code" in params


def test_first_party_client_skips_consent(live_server, issuer_a, world_a):
    rp = RelyingParty(issuer_a, world_a.first_party.application.client_id,
                      world_a.first_party.client_secret, WEB_REDIRECT)
    browser = Browser(live_server.url)
    url, pending = rp.authorization_url()
    response = browser.login(browser.go(url), "alice", PASSWORD)
    assert "code" in redirect_params(response)  # straight back, no consent page


def test_every_endpoint_names_the_user_by_the_same_sub(live_server, issuer_a, world_a):
    """ID token, userinfo and introspection (access and refresh token) agree on ``sub``, a
    hyphenated UUID. On SQLite (the database ``make run`` serves) introspection's raw SQL
    once returned the UUID column as 32 bare hex digits."""
    import uuid

    rp = RelyingParty(issuer_a, world_a.web.application.client_id, world_a.web.client_secret, WEB_REDIRECT)
    params, pending = sign_in_and_authorize(Browser(live_server.url), rp)
    token = rp.exchange(callback_url(rp, params), pending)
    sub = rp.verify_id_token(token["id_token"], nonce=pending["nonce"])["sub"]
    assert sub == str(uuid.UUID(sub)) == str(world_a.user.uid)
    assert rp.session.get(rp.metadata["userinfo_endpoint"]).json()["sub"] == sub
    auth = (rp.client_id, world_a.web.client_secret)
    for value, hint in ((token["access_token"], None), (token["refresh_token"], "refresh_token")):
        data = {"token": value, **({"token_type_hint": hint} if hint else {})}
        described = requests.post(rp.metadata["introspection_endpoint"], auth=auth, data=data).json()
        assert described["active"] is True and described["sub"] == sub, described
