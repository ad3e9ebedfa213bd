"""RFC 9068 JWT access tokens, per client: verifiable with the tenant's JWKS, introspectable."""

from __future__ import annotations

import time

import pytest
import requests
from joserfc import jwt

from idp.models import AccessToken, GrantType
from idp.services.clients import create_client
from tenants.context import tenant_context
from tests.conftest import WEB_REDIRECT
from tests.e2e.test_oidc_flows import callback_url, sign_in_and_authorize
from tests.oidc import Browser, RelyingParty

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def jwt_client(world_a):
    with tenant_context(world_a.tenant):
        return create_client(
            name="API gateway", confidential=True, algorithm="ES256", access_token_format="jwt",
            grant_types=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN, GrantType.CLIENT_CREDENTIALS],
            redirect_uris=[WEB_REDIRECT],
        )


def test_client_credentials_jwt_is_self_contained(live_server, issuer_a, world_a, jwt_client):
    rp = RelyingParty(issuer_a, jwt_client.application.client_id, jwt_client.client_secret, WEB_REDIRECT, scope="")
    token = rp.session.fetch_token(rp.metadata["token_endpoint"], grant_type="client_credentials")
    decoded = jwt.decode(token["access_token"], rp.jwks(), algorithms=["ES256"])
    assert decoded.header["typ"] == "at+jwt" and decoded.header["kid"]
    claims = decoded.claims
    assert claims["iss"] == issuer_a and claims["client_id"] == rp.client_id
    assert claims["tenant"] == "acme" and claims["exp"] > time.time() >= claims["nbf"] - 1
    for name in ("sub", "aud", "iat", "jti", "scope"):
        assert name in claims
    assert not AccessToken.unscoped.exists()  # stateless: no row written

    auth = (rp.client_id, jwt_client.client_secret)
    intro = requests.post(rp.metadata["introspection_endpoint"], auth=auth, data={"token": token["access_token"]})
    assert intro.json()["active"] is True and intro.json()["client_id"] == rp.client_id
    # One flipped signature character and it is dead.
    head, body, sig = token["access_token"].split(".")
    forged = ".".join([head, body, ("A" if sig[0] != "A" else "B") + sig[1:]])
    assert requests.post(rp.metadata["introspection_endpoint"], auth=auth,
                         data={"token": forged}).json() == {"active": False}


def test_jwt_access_token_from_code_flow_works_at_userinfo_and_dies_on_revoke(
        live_server, issuer_a, world_a, jwt_client):
    rp = RelyingParty(issuer_a, jwt_client.application.client_id, jwt_client.client_secret, WEB_REDIRECT)
    params, pending = sign_in_and_authorize(Browser(live_server.url), rp)
    token = rp.exchange(callback_url(rp, params), pending)
    claims = jwt.decode(token["access_token"], rp.jwks(), algorithms=["ES256"]).claims
    assert claims["sub"] == str(world_a.user.uid)
    assert rp.session.get(rp.metadata["userinfo_endpoint"]).json()["sub"] == claims["sub"]

    auth = (rp.client_id, jwt_client.client_secret)
    requests.post(rp.metadata["revocation_endpoint"], auth=auth, data={"token": token["access_token"]})
    intro = requests.post(rp.metadata["introspection_endpoint"], auth=auth, data={"token": token["access_token"]})
    assert intro.json() == {"active": False}
