"""Only the grants Tessera offers, with only the scopes each may carry.

RFC 9700 §2.4: the resource owner password credentials grant MUST NOT be used. A token
endpoint that still routed it answered ``invalid_grant`` for a wrong password and
``unauthorized_client`` for the right one: a password oracle without CSRF, cookie or
browser, beside the login page. A client acting for itself (client credentials) gets no
scope that concerns a person, so no ID token and no userinfo.
"""

from __future__ import annotations

from unittest import mock

import pytest
import requests
from django.contrib.auth.hashers import check_password

from tenants.context import tenant_context
from tests.conftest import PASSWORD
from tests.oidc import Browser
from tests.security.flows import assert_oauth_error, full_flow, token_request

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("client", ["spa", "web"])
def test_the_password_grant_is_not_offered_and_checks_no_password(live_server, issuer_a, world_a, client):
    new = getattr(world_a, client)
    client_id, secret = new.application.client_id, new.client_secret
    responses = []
    with mock.patch("django.contrib.auth.hashers.check_password", wraps=check_password) as checked, \
            mock.patch("accounts.models.User.check_password") as user_checked:
        for password in (PASSWORD, PASSWORD + "-wrong"):
            data = {"grant_type": "password", "username": "alice", "password": password, "scope": "openid"}
            response = token_request(issuer_a, data, client_id, secret, auth="none" if secret is None else "basic")
            assert_oauth_error(response, "unsupported_grant_type", 400)
            responses.append(response.json())
    assert responses[0] == responses[1], "the right and the wrong password are told apart"
    assert not checked.called and not user_checked.called, "a password was verified outside the login page"
    with tenant_context(world_a.tenant):
        world_a.user.refresh_from_db()
        assert world_a.user.last_login is None


def test_the_validator_never_verifies_a_password(world_a):
    from oauthlib.common import Request

    from idp.validators import TesseraOAuth2Validator

    with tenant_context(world_a.tenant):
        assert TesseraOAuth2Validator().validate_user("alice", PASSWORD, None, Request("/")) is False


def test_discovery_does_not_advertise_the_password_grant(live_server, issuer_a, world_a):
    doc = requests.get(f"{issuer_a}/.well-known/openid-configuration").json()
    assert "password" not in doc["grant_types_supported"]


@pytest.mark.parametrize("scope", ["openid", "profile", "email", "offline_access", "openid email"])
def test_client_credentials_are_never_granted_user_scopes(live_server, issuer_a, world_a, scope):
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    response = token_request(issuer_a, {"grant_type": "client_credentials", "scope": scope}, client_id, secret)
    assert_oauth_error(response, "invalid_scope", 400)


def test_client_credentials_without_a_scope_get_none_and_no_userinfo(live_server, issuer_a, world_a):
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    response = token_request(issuer_a, {"grant_type": "client_credentials"}, client_id, secret)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "" and "id_token" not in body and "refresh_token" not in body
    userinfo = requests.get(f"{issuer_a}/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert userinfo.status_code in (401, 403), userinfo.text
    assert "Bearer" in userinfo.headers.get("WWW-Authenticate", "")


def test_a_machine_token_that_was_granted_openid_gets_no_userinfo(live_server, issuer_a, world_a):
    """Tokens issued before the scope rule (or forged into the table) must not reach the
    userinfo code with no user: that was a 500."""
    from django.utils import timezone

    from idp.models import AccessToken

    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    token = token_request(issuer_a, {"grant_type": "client_credentials"}, client_id, secret).json()["access_token"]
    with tenant_context(world_a.tenant):
        assert AccessToken.objects.filter(user=None).update(scope="openid profile email",
                                                            expires=timezone.now() + timezone.timedelta(hours=1))
    response = requests.get(f"{issuer_a}/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401, (response.status_code, response.text[:300])
    assert 'error="invalid_token"' in response.headers.get("WWW-Authenticate", "")


def test_a_person_still_gets_userinfo(live_server, issuer_a, world_a):
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    response = requests.get(f"{issuer_a}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert response.status_code == 200 and response.json()["preferred_username"] == "alice"
