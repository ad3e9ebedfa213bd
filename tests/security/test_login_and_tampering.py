"""Account enumeration at the login page, and tokens an attacker has tampered with.

The login page must not tell an unknown account from a wrong password (OWASP ASVS V2.2 / V3);
tokens are accepted only byte for byte as issued, and ID tokens only with a valid signature
by a key of the tenant.
"""

from __future__ import annotations

import base64
import json
import re
import string
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from jwcrypto import jwk, jws

from accounts.services import create_user
from tenants.context import tenant_context
from tests.conftest import PASSWORD
from tests.oidc import Browser
from tests.security.flows import (
    assert_error_page,
    assert_oauth_error,
    authorize_url,
    exchange,
    full_flow,
    introspect,
    location_params,
    obtain_code,
    refresh,
)

pytestmark = pytest.mark.django_db(transaction=True)


# --- enumeration ------------------------------------------------------------------------------

def _failed_login(live_server, issuer: str, username: str, password: str) -> tuple[int, str, str]:
    """(status, the alert text, the page with per-request values normalised)."""
    browser = Browser(live_server.url)
    page = browser.go(f"{issuer}/login")
    response = browser.submit(page, {"username": username, "password": password})
    html = response.text
    alert = re.search(r'role="alert">([^<]*)<', html)
    normalised = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', 'name="csrfmiddlewaretoken" value=""', html)
    normalised = re.sub(r'data-csrf="[^"]*"', 'data-csrf=""', normalised)
    normalised = normalised.replace(f'value="{username}"', 'value="USERNAME"')
    return response.status_code, alert.group(1).strip() if alert else "", normalised


def test_unknown_user_and_wrong_password_look_the_same(live_server, issuer_a, world_a):
    with tenant_context(world_a.tenant):
        create_user(username="retired", email="retired@example.com", password=PASSWORD, email_verified=True)
        get_user_model().objects.filter(username="retired").update(is_active=False)
    attempts = {
        "wrong password": ("alice", PASSWORD + "x"),
        "wrong password, other case": ("ALICE", "nope-nope-nope"),
        "wrong password, by email": ("alice@example.com", PASSWORD + "x"),
        "unknown user": ("mallory", PASSWORD),
        "unknown email": ("mallory@example.com", PASSWORD),
        "deactivated user, right password": ("retired", PASSWORD),
        "user of another tenant": ("bob-from-globex", PASSWORD),
    }
    results = {name: _failed_login(live_server, issuer_a, *creds) for name, creds in attempts.items()}
    reference_status, reference_alert, reference_page = results["wrong password"]
    assert reference_status == 200 and reference_alert, results["wrong password"][:2]
    for name, (status, alert, page) in results.items():
        assert (status, alert) == (reference_status, reference_alert), name
        assert 'name="username"' in page and 'name="password"' in page, name
        assert page == reference_page, f"the login page differs for {name!r}"
    # The control: the right password is not a failure.
    ok = Browser(live_server.url)
    response = ok.submit(ok.go(f"{issuer_a}/login"), {"username": "alice", "password": PASSWORD})
    assert 'name="password"' not in response.text


# --- tampered tokens --------------------------------------------------------------------------

def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_json(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _with_payload(id_token: str, **changes) -> str:
    header, payload, signature = id_token.split(".")
    claims = {**_b64url_json(payload), **changes}
    return ".".join([header, _b64url(json.dumps(claims, separators=(",", ":")).encode()), signature])


def _signed_by_attacker(claims: dict, header: dict) -> str:
    key = jwk.JWK.generate(kty="EC", crv="P-256") if header["alg"] == "ES256" else jwk.JWK.generate(
        kty="RSA", size=2048)
    token = jws.JWS(json.dumps(claims).encode())
    token.add_signature(key, alg=header["alg"], protected=json.dumps(header))
    return token.serialize(compact=True)


def _forgeries(id_token: str, issuer: str, jwks: dict) -> dict[str, str]:
    header, payload, signature = id_token.split(".")
    claims, head = _b64url_json(payload), _b64url_json(header)
    hs256_header = _b64url(json.dumps({"alg": "HS256", "kid": head["kid"]}).encode())
    public = next(k for k in jwks["keys"] if k["kid"] == head["kid"])
    # Key confusion: HS256 keyed with the published public key.
    pem = jwk.JWK(**public).export_to_pem()
    hs = jws.JWS(json.dumps({**claims, "sub": "attacker"}).encode())
    hs.add_signature(jwk.JWK(kty="oct", k=_b64url(pem)), alg="HS256",
                     protected=json.dumps({"alg": "HS256", "kid": head["kid"]}))
    return {
        "other sub": _with_payload(id_token, sub="00000000-0000-0000-0000-000000000000"),
        "other aud": _with_payload(id_token, aud="someone-else"),
        "other iss": _with_payload(id_token, iss=issuer + "x"),
        "extra claim": _with_payload(id_token, admin=True),
        "alg none": ".".join([_b64url(b'{"alg":"none"}'), payload, ""]),
        "alg none, kid kept": ".".join([_b64url(json.dumps({"alg": "none", "kid": head["kid"]}).encode()),
                                        payload, ""]),
        "HS256 header, RS256 signature": f"{hs256_header}.{payload}.{signature}",
        "HS256 keyed with the public key": hs.serialize(compact=True),
        "attacker key, tenant kid": _signed_by_attacker(claims, head),
        "signature of another token": ".".join([header, payload, signature[::-1]]),
        "signature stripped": f"{header}.{payload}.",
    }


def _signed_in(browser: Browser, issuer: str, world) -> bool:
    url, _ = authorize_url(issuer, world.web.application.client_id, prompt="none")
    _, params = location_params(browser.http.get(url, allow_redirects=False))
    return "code" in params


def test_tampered_id_token_hint_is_rejected_at_logout(live_server, issuer_a, world_a):
    browser = Browser(live_server.url)
    tokens = full_flow(browser, issuer_a, world_a)
    jwks = requests.get(f"{issuer_a}/jwks.json").json()
    for name, forged in _forgeries(tokens["id_token"], issuer_a, jwks).items():
        for extra in ({}, {"post_logout_redirect_uri": "https://rp.example.test/bye", "state": "s"}):
            response = browser.http.get(f"{issuer_a}/logout", params={"id_token_hint": forged, **extra},
                                        allow_redirects=False)
            assert_error_page(response, 400)
        assert _signed_in(browser, issuer_a, world_a), f"{name}: the session ended"
        assert introspect(issuer_a, tokens["access_token"], world_a.web.application.client_id,
                          world_a.web.client_secret)["active"] is True, name
    # The control: the genuine hint signs the user out at once and goes back to the client.
    response = browser.http.get(f"{issuer_a}/logout", params={
        "id_token_hint": tokens["id_token"], "post_logout_redirect_uri": "https://rp.example.test/bye"},
        allow_redirects=False)
    assert response.status_code == 302 and response.headers["Location"] == "https://rp.example.test/bye"
    assert not _signed_in(browser, issuer_a, world_a)


def _mutations(token: str) -> list[str]:
    alphabet = string.ascii_letters + string.digits + "-_"
    middle = len(token) // 2
    swapped = alphabet[(alphabet.index(token[middle]) + 1) % len(alphabet)]
    first = alphabet[(alphabet.index(token[0]) + 1) % len(alphabet)]
    last = alphabet[(alphabet.index(token[-1]) + 1) % len(alphabet)]
    return [
        token[:middle] + swapped + token[middle + 1:],
        first + token[1:],
        token[:-1] + last,
        token.swapcase(),
        token + "A",
        token[:-1],
        token[::-1],
    ]


def test_access_token_with_one_character_changed_is_worthless(live_server, issuer_a, world_a):
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    access = tokens["access_token"]
    for mutated in _mutations(access):
        assert mutated != access
        assert introspect(issuer_a, mutated, client_id, secret) == {"active": False}, mutated
        response = requests.get(f"{issuer_a}/userinfo", headers={"Authorization": f"Bearer {mutated}"})
        assert response.status_code == 401, (mutated, response.text)
        assert "alice" not in response.text
    # The control: the original is untouched.
    assert introspect(issuer_a, access, client_id, secret)["active"] is True
    assert requests.get(f"{issuer_a}/userinfo", headers={"Authorization": f"Bearer {access}"}).status_code == 200


def test_refresh_token_with_one_character_changed_is_worthless_and_harmless(live_server, issuer_a, world_a):
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    for mutated in _mutations(tokens["refresh_token"]):
        assert_oauth_error(refresh(issuer_a, mutated, client_id, secret), "invalid_grant", 400)
        assert introspect(issuer_a, mutated, client_id, secret, "refresh_token") == {"active": False}
    # Guessing at it neither counted as reuse nor revoked the family.
    response = refresh(issuer_a, tokens["refresh_token"], client_id, secret)
    assert response.status_code == 200, response.text


def test_authorization_code_with_one_character_changed_is_invalid_grant(live_server, issuer_a, world_a):
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    for mutated in _mutations(code):
        assert_oauth_error(exchange(issuer_a, mutated, request, client_id, secret), "invalid_grant", 400)
    assert exchange(issuer_a, code, request, client_id, secret).status_code == 200  # not consumed by guesses


# --- redirects around login and logout --------------------------------------------------------

@pytest.mark.parametrize("next_url", [
    "https://evil.example/", "//evil.example/", "/\\evil.example/", "\\\\evil.example", "https:evil.example",
    "javascript:alert(1)", "/t/acme/../../evil", "/t/globex/", "http://localhost/t/acme/", "/t/acmeevil/",
    " //evil.example", "/%2F%2Fevil.example", "///evil.example",
])
def test_login_never_redirects_off_the_tenant(live_server, issuer_a, world_a, next_url):
    browser = Browser(live_server.url)
    page = browser.http.get(f"{issuer_a}/login", params={"next": next_url})
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    response = browser.http.post(f"{issuer_a}/login", allow_redirects=False, data={
        "csrfmiddlewaretoken": token, "username": "alice", "password": PASSWORD, "next": next_url})
    assert response.status_code == 302, response.text[:300]
    location = response.headers["Location"]
    resolved = urlsplit(urljoin(f"{issuer_a}/login", location))
    origin = urlsplit(live_server.url)
    assert (resolved.scheme, resolved.netloc) == (origin.scheme, origin.netloc), location
    assert "evil.example" not in location, location


def test_logout_without_a_hint_asks_before_signing_out(live_server, issuer_a, world_a):
    # A cross-site GET (an <img> on another page) must not end the session.
    browser = Browser(live_server.url)
    full_flow(browser, issuer_a, world_a)
    for params in ({}, {"post_logout_redirect_uri": "https://rp.example.test/bye",
                        "client_id": world_a.web.application.client_id, "state": "s"}):
        response = browser.http.get(f"{issuer_a}/logout", params=params, allow_redirects=False)
        assert response.status_code == 200 and "Location" not in response.headers
        assert 'name="csrfmiddlewaretoken"' in response.text
        assert _signed_in(browser, issuer_a, world_a)
    # Nor does a cross-site POST without the CSRF token.
    response = browser.http.post(f"{issuer_a}/logout", data={"confirm": "1"}, allow_redirects=False)
    assert response.status_code == 403
    assert _signed_in(browser, issuer_a, world_a)
