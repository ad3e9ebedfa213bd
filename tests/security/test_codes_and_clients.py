"""The token endpoint from the attacker's side: stolen or replayed codes, and client authentication.

RFC 6749 §4.1.2 / §10.5 (single use, replay revokes), §4.1.3 (redirect_uri binding), §5.2 (errors),
RFC 7636 §4.6 (code_verifier), RFC 6749 §2.3.1 / §3.2.1 (client authentication).
"""

from __future__ import annotations

import base64
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from idp.models import Grant
from tenants.context import tenant_context
from tests.conftest import WEB_REDIRECT
from tests.oidc import Browser
from tests.security.flows import (
    assert_oauth_error,
    exchange,
    introspect,
    obtain_code,
    pkce_pair,
    refresh,
    token_request,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _web(world) -> tuple[str, str]:
    return world.web.application.client_id, world.web.client_secret


# --- authorization codes ----------------------------------------------------------------------

def test_code_replay_fails_and_revokes_what_the_first_exchange_issued(live_server, issuer_a, world_a):
    client_id, secret = _web(world_a)
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    first = exchange(issuer_a, code, request, client_id, secret)
    assert first.status_code == 200, first.text
    tokens = first.json()
    assert introspect(issuer_a, tokens["access_token"], client_id, secret)["active"] is True
    assert introspect(issuer_a, tokens["refresh_token"], client_id, secret, "refresh_token")["active"] is True

    replay = exchange(issuer_a, code, request, client_id, secret)
    assert_oauth_error(replay, "invalid_grant", 400)
    assert "access_token" not in replay.text

    assert introspect(issuer_a, tokens["access_token"], client_id, secret) == {"active": False}
    assert introspect(issuer_a, tokens["refresh_token"], client_id, secret, "refresh_token") == {"active": False}
    assert_oauth_error(refresh(issuer_a, tokens["refresh_token"], client_id, secret), "invalid_grant", 400)
    userinfo = requests.get(f"{issuer_a}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 401


def test_code_replay_also_revokes_tokens_refreshed_from_the_first_exchange(live_server, issuer_a, world_a):
    client_id, secret = _web(world_a)
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    tokens = exchange(issuer_a, code, request, client_id, secret).json()
    refreshed = refresh(issuer_a, tokens["refresh_token"], client_id, secret)
    assert refreshed.status_code == 200, refreshed.text
    refreshed = refreshed.json()

    assert_oauth_error(exchange(issuer_a, code, request, client_id, secret), "invalid_grant", 400)
    assert introspect(issuer_a, refreshed["access_token"], client_id, secret) == {"active": False}
    assert_oauth_error(refresh(issuer_a, refreshed["refresh_token"], client_id, secret), "invalid_grant", 400)


def test_wrong_code_verifier_is_invalid_grant(live_server, issuer_a, world_a):
    client_id, secret = _web(world_a)
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    other_verifier, _ = pkce_pair()
    response = exchange(issuer_a, code, request, client_id, secret, code_verifier=other_verifier)
    assert_oauth_error(response, "invalid_grant", 400)
    assert "access_token" not in response.text


def test_code_challenge_itself_is_not_a_valid_verifier(live_server, issuer_a, world_a):
    # A downgrade to "plain": presenting the intercepted challenge as the verifier.
    client_id, secret = _web(world_a)
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    response = exchange(issuer_a, code, request, client_id, secret, code_verifier=request["code_challenge"])
    assert_oauth_error(response, "invalid_grant", 400)


def test_missing_code_verifier_is_refused(live_server, issuer_a, world_a):
    client_id, secret = _web(world_a)
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    response = exchange(issuer_a, code, request, client_id, secret, code_verifier=None)
    assert_oauth_error(response, {"invalid_request", "invalid_grant"}, 400)
    assert "access_token" not in response.text


def test_code_exchanged_with_a_different_redirect_uri_is_invalid_grant(live_server, issuer_a, world_a):
    client_id, secret = _web(world_a)
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    response = exchange(issuer_a, code, request, client_id, secret, redirect_uri=WEB_REDIRECT + "/")
    assert "access_token" not in response.text
    # RFC 6749 §5.2: a redirection URI that does not match the authorization request's is invalid_grant.
    assert_oauth_error(response, "invalid_grant", 400)


def test_code_exchange_without_the_redirect_uri_of_the_authorization_request_is_refused(
    live_server, issuer_a, world_a
):
    # RFC 6749 §4.1.3 / OIDC Core §3.1.3.1: redirect_uri is REQUIRED at the token endpoint when the
    # authorization request carried one (an OIDC request always does).
    client_id, secret = _web(world_a)
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    response = exchange(issuer_a, code, request, client_id, secret, redirect_uri=None)
    assert "access_token" not in response.text, "a code was redeemed without its redirect_uri"
    assert_oauth_error(response, {"invalid_request", "invalid_grant"}, 400)


def test_code_exchanged_with_a_different_redirect_uri_yields_no_token(live_server, issuer_a, world_a):
    # The security half of the test above, independent of the error code chosen.
    client_id, secret = _web(world_a)
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    response = exchange(issuer_a, code, request, client_id, secret, redirect_uri="https://evil.example/callback")
    assert_oauth_error(response, status=400)
    assert "access_token" not in response.text


def test_code_cannot_be_redeemed_by_another_client_of_the_same_tenant(live_server, issuer_a, world_a):
    client_id, _ = _web(world_a)
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    thief = world_a.first_party  # confidential, same redirect URI, same tenant
    response = exchange(issuer_a, code, request, thief.application.client_id, thief.client_secret)
    assert_oauth_error(response, "invalid_grant", 400)
    # Public client of the same tenant, with the real verifier and redirect URI.
    public = exchange(issuer_a, code, request, world_a.spa.application.client_id, None, auth="none")
    assert_oauth_error(public, {"invalid_grant", "invalid_client", "unauthorized_client"})
    assert "access_token" not in public.text


def test_expired_code_is_invalid_grant(live_server, issuer_a, world_a):
    client_id, secret = _web(world_a)
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    with tenant_context(world_a.tenant):
        updated = Grant.objects.filter(code=code).update(expires=timezone.now() - timedelta(seconds=1))
    assert updated == 1, "the code was not found by its digest"
    response = exchange(issuer_a, code, request, client_id, secret)
    assert_oauth_error(response, "invalid_grant", 400)
    assert "access_token" not in response.text


def test_unknown_and_digest_codes_are_invalid_grant(live_server, issuer_a, world_a):
    client_id, secret = _web(world_a)
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    with tenant_context(world_a.tenant):
        stored = Grant.objects.get(code=code).code  # what a database leak would reveal
    for fake in ("not-a-code", stored, code + "x", code[:-1]):
        assert_oauth_error(exchange(issuer_a, fake, request, client_id, secret), "invalid_grant", 400)
    # The real code still works: the failures above did not consume it.
    assert exchange(issuer_a, code, request, client_id, secret).status_code == 200


# --- client authentication --------------------------------------------------------------------

def _client_credentials(issuer: str, client_id: str, secret: str | None, auth: str) -> requests.Response:
    return token_request(issuer, {"grant_type": "client_credentials"}, client_id, secret, auth=auth)


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_wrong_client_secret_is_401_invalid_client(live_server, issuer_a, world_a, auth):
    client_id, secret = _web(world_a)
    assert _client_credentials(issuer_a, client_id, secret, auth).status_code == 200
    for wrong in (secret[:-1] + ("A" if secret[-1] != "A" else "B"), secret.upper(), secret + "x", "x",
                  world_a.first_party.client_secret):
        assert_oauth_error(_client_credentials(issuer_a, client_id, wrong, auth), "invalid_client", 401)


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_wrong_client_secret_at_code_exchange_is_401_and_leaves_the_code_usable(live_server, issuer_a,
                                                                               world_a, auth):
    client_id, secret = _web(world_a)
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    response = exchange(issuer_a, code, request, client_id, "wrong-secret", auth=auth)
    assert_oauth_error(response, "invalid_client", 401)
    assert exchange(issuer_a, code, request, client_id, secret, auth=auth).status_code == 200


def test_stored_secret_digest_is_not_a_valid_secret(live_server, issuer_a, world_a):
    client_id, _ = _web(world_a)
    digest = world_a.web.application.client_secret
    assert digest.startswith("hmac-sha256$")
    for auth in ("basic", "post"):
        assert_oauth_error(_client_credentials(issuer_a, client_id, digest, auth), "invalid_client", 401)


@pytest.mark.parametrize("auth", ["none", "post", "basic"])
def test_public_client_cannot_use_client_credentials(live_server, issuer_a, world_a, auth):
    client_id = world_a.spa.application.client_id
    secret = "" if auth != "none" else None
    response = _client_credentials(issuer_a, client_id, secret, auth)
    assert_oauth_error(response, {"invalid_client", "unauthorized_client"})
    assert "access_token" not in response.text


@pytest.mark.parametrize("grant", ["client_credentials", "authorization_code", "refresh_token"])
def test_confidential_client_omitting_its_secret_is_401_invalid_client(live_server, issuer_a, world_a, grant):
    client_id, _ = _web(world_a)
    data = {"grant_type": grant, "code": "whatever", "refresh_token": "whatever",
            "redirect_uri": WEB_REDIRECT, "code_verifier": "x" * 43}
    response = token_request(issuer_a, data, client_id, None, auth="none")
    assert_oauth_error(response, "invalid_client", 401)


def test_confidential_client_omitting_its_secret_cannot_redeem_its_own_code(live_server, issuer_a, world_a):
    client_id, _secret = _web(world_a)
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    response = exchange(issuer_a, code, request, client_id, None, auth="none")
    assert_oauth_error(response, "invalid_client", 401)
    empty = exchange(issuer_a, code, request, client_id, "", auth="post")
    assert_oauth_error(empty, "invalid_client", 401)


def test_basic_secret_with_an_appended_byte_is_refused(live_server, issuer_a, world_a):
    # RFC 6749 §2.3.1: credentials are form-urlencoded inside Basic; "secret%" is not "secret".
    client_id, secret = _web(world_a)
    raw = base64.b64encode(f"{client_id}:{secret}%".encode()).decode()
    response = requests.post(f"{issuer_a}/token", headers={"Authorization": f"Basic {raw}"},
                             data={"grant_type": "client_credentials"})
    assert_oauth_error(response, "invalid_client", 401)


# --- a failed check does not burn the code ------------------------------------------------------

@pytest.mark.parametrize("wrong", [{"code_verifier": "v" * 43}, {"redirect_uri": WEB_REDIRECT + "/other"}])
def test_a_failed_pkce_or_redirect_check_leaves_the_code_to_its_rightful_exchange(live_server, issuer_a, world_a,
                                                                                  wrong):
    """Decision "A code is claimed only once PKCE and the redirect URI check out": whoever
    lacks the verifier or the redirect URI cannot spend the code, so the client's own
    exchange afterwards succeeds instead of looking like a replay."""
    client_id, secret = _web(world_a)
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    assert_oauth_error(exchange(issuer_a, code, request, client_id, secret, **wrong), "invalid_grant", 400)
    good = exchange(issuer_a, code, request, client_id, secret)
    assert good.status_code == 200, good.text
    assert introspect(issuer_a, good.json()["access_token"], client_id, secret)["active"] is True
    # ...and it is single use from then on.
    assert_oauth_error(exchange(issuer_a, code, request, client_id, secret), "invalid_grant", 400)


# --- refresh tokens: bound to their client and their lifetime ----------------------------------

def test_a_refresh_token_is_refused_to_another_client_and_stays_good_for_its_own(live_server, issuer_a, world_a):
    client_id, secret = _web(world_a)
    tokens = exchange(issuer_a, *obtain_code(Browser(live_server.url), issuer_a, client_id), client_id, secret).json()
    from idp.models import GrantType
    from idp.services.clients import create_client

    with tenant_context(world_a.tenant):  # a client allowed to refresh, just not this token
        other = create_client(name="Other", confidential=True, redirect_uris=[WEB_REDIRECT],
                              grant_types=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN])
    assert_oauth_error(refresh(issuer_a, tokens["refresh_token"], other.application.client_id, other.client_secret),
                       "invalid_grant", 400)
    public = world_a.spa.application.client_id
    assert_oauth_error(token_request(issuer_a,
                                     {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                                     public, None, auth="none"), "invalid_grant", 400)
    # Not a reuse: the other client's attempt neither worked nor revoked the owner's chain.
    response = refresh(issuer_a, tokens["refresh_token"], client_id, secret)
    assert response.status_code == 200, response.text


def test_an_expired_refresh_token_is_refused_at_the_token_endpoint(live_server, issuer_a, world_a):
    from idp.models import AccessToken

    client_id, secret = _web(world_a)
    tokens = exchange(issuer_a, *obtain_code(Browser(live_server.url), issuer_a, client_id), client_id, secret).json()
    with tenant_context(world_a.tenant):
        # REFRESH_TOKEN_LIFETIME counts from the expiry of the current access token.
        AccessToken.objects.update(expires=timezone.now() - timedelta(days=31))
    assert_oauth_error(refresh(issuer_a, tokens["refresh_token"], client_id, secret), "invalid_grant", 400)


# --- one client authentication method, challenged with Basic -----------------------------------

def test_two_client_authentication_methods_in_one_request_are_refused(live_server, issuer_a, world_a):
    client_id, secret = _web(world_a)
    for endpoint, data in (("token", {"grant_type": "client_credentials"}), ("introspect", {"token": "x"}),
                           ("revoke", {"token": "x"})):
        response = requests.post(f"{issuer_a}/{endpoint}", auth=(client_id, secret),
                                 data={**data, "client_id": client_id, "client_secret": secret})
        assert_oauth_error(response, "invalid_request", 400)
        response = requests.post(f"{issuer_a}/{endpoint}", auth=(client_id, secret),
                                 data={**data, "client_id": world_a.first_party.application.client_id})
        assert_oauth_error(response, "invalid_request", 400)
    # The control: Basic alone, and the body alone (with the same client_id in both) work.
    assert requests.post(f"{issuer_a}/token", auth=(client_id, secret),
                         data={"grant_type": "client_credentials", "client_id": client_id}).status_code == 200
    assert token_request(issuer_a, {"grant_type": "client_credentials"}, client_id, secret,
                         auth="post").status_code == 200


@pytest.mark.parametrize("endpoint", ["token", "introspect", "revoke"])
def test_a_failed_client_authentication_is_challenged_with_basic(live_server, issuer_a, world_a, endpoint):
    client_id, _ = _web(world_a)
    data = {"grant_type": "client_credentials", "token": "x"}
    for kwargs in ({"auth": (client_id, "wrong")}, {"data": {**data, "client_id": client_id,
                                                             "client_secret": "wrong"}}):
        response = requests.post(f"{issuer_a}/{endpoint}", **({"data": data} | kwargs))
        assert_oauth_error(response, "invalid_client", 401)
        challenge = response.headers.get("WWW-Authenticate", "")
        assert challenge.startswith('Basic realm="') and issuer_a in challenge, challenge
