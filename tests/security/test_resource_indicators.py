"""RFC 8707 resource indicators on the code exchange, from the client's side: a token request
may narrow the resources its authorization request was granted, never widen them, and without
any it inherits them all (shown to resource servers as the introspected ``aud``)."""

from __future__ import annotations

import pytest

from tests.oidc import Browser
from tests.security.flows import assert_oauth_error, exchange, introspect, obtain_code

pytestmark = pytest.mark.django_db(transaction=True)

API_A, API_B, API_C = "https://api-a.example.test", "https://api-b.example.test", "https://api-c.example.test"


def _code(live_server, issuer, world, *resources):
    return obtain_code(Browser(live_server.url), issuer, world.web.application.client_id,
                       resource=list(resources) if len(resources) > 1 else resources[0])


def _exchange(issuer, world, code, request, resource=None):
    web = world.web
    return exchange(issuer, code, request, web.application.client_id, web.client_secret,
                    **({"resource": resource} if resource is not None else {}))


def _audience(issuer, world, response) -> list[str]:
    assert response.status_code == 200, response.text
    web = world.web
    answer = introspect(issuer, response.json()["access_token"], web.application.client_id, web.client_secret)
    assert answer["active"] is True
    return answer.get("aud", [])


def test_without_a_resource_the_token_inherits_every_granted_one(live_server, issuer_a, world_a):
    code, request = _code(live_server, issuer_a, world_a, API_A, API_B)
    assert sorted(_audience(issuer_a, world_a, _exchange(issuer_a, world_a, code, request))) == [API_A, API_B]


def test_a_token_request_may_narrow_the_granted_resources(live_server, issuer_a, world_a):
    code, request = _code(live_server, issuer_a, world_a, API_A, API_B)
    assert _audience(issuer_a, world_a, _exchange(issuer_a, world_a, code, request, API_B)) == [API_B]


def test_a_resource_the_authorization_did_not_grant_is_refused(live_server, issuer_a, world_a):
    code, request = _code(live_server, issuer_a, world_a, API_A)
    response = _exchange(issuer_a, world_a, code, request, API_C)
    assert_oauth_error(response, "invalid_target", 400)
    # Nothing was issued, and the code was not spent on the refusal... nor may it be retried
    # with a widened list: each attempt is judged on the grant alone.
    assert_oauth_error(_exchange(issuer_a, world_a, code, request, API_C), "invalid_target", 400)


def test_a_malformed_resource_is_refused_at_the_token_endpoint(live_server, issuer_a, world_a):
    code, request = _code(live_server, issuer_a, world_a, API_A)
    assert_oauth_error(_exchange(issuer_a, world_a, code, request, "not a uri"), "invalid_target", 400)
