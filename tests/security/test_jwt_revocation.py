"""Revocation of JWT access tokens (RFC 7009 + RFC 9068), from the relying party's and the
attacker's side: a revoked JWT is dead at introspection and userinfo although it is
self-contained, only its own client can revoke it, tenants cannot touch each other's, and when
the deny list's Redis is unreachable a JWT fails closed while opaque tokens carry on.

The core cases run twice: on the local-memory cache (``make run``, no Redis) and on a real
Redis (production, ``REDIS_URL``); the Redis-only ones inspect the stored entries.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import time
import uuid
from dataclasses import dataclass

import pytest
import redis
import requests
from django.core.cache import caches

from audit.models import Action, AuditEvent
from idp import claims, denylist, keys
from idp.models import GrantType
from idp.services.clients import create_client
from tenants.context import tenant_context
from tests.conftest import WEB_REDIRECT
from tests.oidc import Browser
from tests.security.flows import (
    assert_oauth_error,
    exchange,
    full_flow,
    introspect,
    obtain_code,
    token_request,
)

pytestmark = pytest.mark.django_db(transaction=True)

LOCMEM = "django.core.cache.backends.locmem.LocMemCache"
REDIS = "django.core.cache.backends.redis.RedisCache"


@dataclass
class DenyList:
    kind: str
    redis: redis.Redis | None = None

    def keys(self) -> list[str]:
        assert self.redis is not None
        return sorted(k.decode() for k in self.redis.scan_iter(f"*{denylist.KEY_PREFIX}:*"))


def _purge(client: redis.Redis) -> None:
    for key in client.scan_iter(f"*{denylist.KEY_PREFIX}:*"):
        client.delete(key)


def _local_memory(settings) -> None:
    """A fresh local-memory default cache (its own LOCATION: nothing left over from elsewhere)."""
    settings.CACHES = {"default": {"BACKEND": LOCMEM, "LOCATION": f"jwt-deny-list-{uuid.uuid4().hex}"}}


@pytest.fixture
def redis_deny_list(redis_server, settings):
    """The default cache on a real Redis; deny-list entries purged before and after."""
    client = redis.Redis.from_url(redis_server.url)
    _purge(client)
    settings.CACHES = {"default": {"BACKEND": REDIS, "LOCATION": redis_server.url}}
    yield DenyList("redis", client)
    _purge(client)
    client.close()


@pytest.fixture(params=["locmem", "redis"])
def deny_list(request, settings):
    if request.param == "redis":
        yield request.getfixturevalue("redis_deny_list")
        return
    _local_memory(settings)
    yield DenyList("locmem")
    caches["default"].clear()


class _Collected(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def warnings_logged():
    """WARNING records of the idp loggers (a handler of its own: works with -p no:logging)."""
    handler = _Collected()
    logger = logging.getLogger("idp")
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


def _jwt_client(world, name: str = "Resource gateway"):
    with tenant_context(world.tenant):
        return create_client(
            name=name, confidential=True, access_token_format="jwt",
            grant_types=[GrantType.AUTHORIZATION_CODE, GrantType.REFRESH_TOKEN, GrantType.CLIENT_CREDENTIALS],
            redirect_uris=[WEB_REDIRECT],
        )


def _creds(client) -> tuple[str, str]:
    return client.application.client_id, client.client_secret


def _client_credentials_token(issuer: str, client) -> str:
    response = token_request(issuer, {"grant_type": "client_credentials"}, *_creds(client))
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def _user_flow_tokens(live_server, issuer: str, client) -> dict:
    client_id, secret = _creds(client)
    code, request = obtain_code(Browser(live_server.url), issuer, client_id)
    response = exchange(issuer, code, request, client_id, secret)
    assert response.status_code == 200, response.text
    return response.json()


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _revoke(issuer: str, token: str, client, hint: str | None = None, **kwargs) -> requests.Response:
    data = {"token": token, **({"token_type_hint": hint} if hint else {})}
    return token_request(issuer, data, *_creds(client), endpoint="revoke", **kwargs)


def _active(issuer: str, token: str, client, hint: str | None = None) -> bool:
    return introspect(issuer, token, *_creds(client), hint)["active"]


def _userinfo(issuer: str, token: str) -> requests.Response:
    return requests.get(f"{issuer}/userinfo", headers={"Authorization": f"Bearer {token}"})


def _assert_invalid_token(response: requests.Response) -> None:
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers.get("WWW-Authenticate", ""), response.headers
    assert "alice" not in response.text


def _mint(world, issuer: str, client, *, lifetime: int, jti: str | None = None) -> str:
    """A client-credentials JWT access token signed by the tenant, as its token endpoint would
    have issued it (with a lifetime, or a jti, the endpoint would not choose)."""
    with tenant_context(world.tenant):
        body = claims.access_token_claims(issuer=issuer, tenant_slug=world.tenant.slug, client=client.application,
                                          user=None, scopes=[], resources=[], lifetime=lifetime)
        if jti is not None:
            body["jti"] = jti
        return keys.sign_jwt(body, client.application.algorithm, typ=keys.ACCESS_TOKEN_TYPE)


def _revocation_events(world) -> list[AuditEvent]:
    with tenant_context(world.tenant):
        return list(AuditEvent.objects.filter(action=Action.TOKEN_REVOKED).order_by("seq"))


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# --- revoked means dead ----------------------------------------------------------------------


def test_a_revoked_client_credentials_jwt_is_inactive_for_every_resource_server(
        deny_list, live_server, issuer_a, world_a):
    gateway = _jwt_client(world_a)
    token, other = _client_credentials_token(issuer_a, gateway), _client_credentials_token(issuer_a, gateway)
    for asker in (gateway, world_a.web):  # the client itself, and another resource server of the tenant
        assert _active(issuer_a, token, asker)

    response = _revoke(issuer_a, token, gateway)
    assert response.status_code == 200, response.text

    for asker in (gateway, world_a.web):
        for hint in (None, "access_token", "refresh_token"):
            assert introspect(issuer_a, token, *_creds(asker), hint) == {"active": False}
    assert _active(issuer_a, other, gateway)  # only that token: its jti, not the client
    # Revoking again changes nothing (and is no new event) and still answers 200 (RFC 7009 §2.2).
    assert _revoke(issuer_a, token, gateway, "access_token").status_code == 200

    jti = _claims(token)["jti"]
    revoked = [e for e in _revocation_events(world_a) if e.target_type == "jwt_access_token"]
    assert [(e.target_id, e.actor_id, e.details["jti"]) for e in revoked] == [
        (jti, gateway.application.client_id, jti)]
    assert token not in json.dumps([e.details for e in revoked])


def test_a_revoked_user_flow_jwt_is_refused_at_userinfo_and_introspection(
        deny_list, live_server, issuer_a, world_a):
    gateway = _jwt_client(world_a)
    tokens = _user_flow_tokens(live_server, issuer_a, gateway)
    access = tokens["access_token"]
    assert access.count(".") == 2
    assert _userinfo(issuer_a, access).status_code == 200

    assert _revoke(issuer_a, access, gateway).status_code == 200
    _assert_invalid_token(_userinfo(issuer_a, access))
    assert introspect(issuer_a, access, *_creds(gateway)) == {"active": False}
    [event] = _revocation_events(world_a)  # its row deleted and its jti denied: one event
    assert (event.target_type, event.details["jti"]) == ("access_token", _claims(access)["jti"])
    # Only that token: the user's next one works.
    again = _user_flow_tokens(live_server, issuer_a, gateway)["access_token"]
    assert _userinfo(issuer_a, again).status_code == 200


def test_a_denied_jti_kills_a_user_flow_jwt_whose_row_survives(deny_list, live_server, issuer_a, world_a):
    """The deny list is consulted for JWTs with a row too, not only for row-less ones: a
    revocation that reached the deny list alone (from another process, say) is enough."""
    gateway = _jwt_client(world_a)
    access = _user_flow_tokens(live_server, issuer_a, gateway)["access_token"]
    opaque = full_flow(Browser(live_server.url), issuer_a, world_a)["access_token"]
    assert denylist.deny(world_a.tenant.pk, _claims(access)["jti"], _claims(access)["exp"])

    _assert_invalid_token(_userinfo(issuer_a, access))
    assert introspect(issuer_a, access, *_creds(gateway)) == {"active": False}
    assert _userinfo(issuer_a, opaque).status_code == 200


# --- who may revoke --------------------------------------------------------------------------


def test_another_client_cannot_revoke_it(deny_list, live_server, issuer_a, world_a):
    gateway = _jwt_client(world_a)
    rival = _jwt_client(world_a, "Rival gateway")
    token = _client_credentials_token(issuer_a, gateway)
    user_jwt = _user_flow_tokens(live_server, issuer_a, gateway)["access_token"]

    for attacker in (world_a.web, rival):  # authenticated clients of the same tenant
        for victim in (token, user_jwt):
            for hint in (None, "access_token"):
                response = _revoke(issuer_a, victim, attacker, hint)
                assert response.status_code == 200, response.text  # RFC 7009 §2.2: no oracle
    # Knowing the client_id (it is in the token) without the secret gets nowhere.
    gateway_id = gateway.application.client_id
    for auth in ("none", "post"):
        response = token_request(issuer_a, {"token": token}, gateway_id, None if auth == "none" else "wrong",
                                 endpoint="revoke", auth=auth)
        assert_oauth_error(response, "invalid_client", 401)
    # A public client may call the endpoint (for its own tokens, RFC 7009 §2.1), not revoke this one.
    response = token_request(issuer_a, {"token": token}, world_a.spa.application.client_id, None,
                             endpoint="revoke", auth="none")
    assert response.status_code == 200, response.text

    assert _active(issuer_a, token, gateway) and _active(issuer_a, user_jwt, gateway)
    assert _userinfo(issuer_a, user_jwt).status_code == 200
    if deny_list.redis is not None:
        assert deny_list.keys() == []
    assert not [e for e in _revocation_events(world_a) if e.target_type == "jwt_access_token"]


def test_tenant_b_cannot_revoke_a_token_of_a(deny_list, live_server, issuer_a, issuer_b, world_a, world_b):
    gateway_a, gateway_b = _jwt_client(world_a), _jwt_client(world_b)
    token = _client_credentials_token(issuer_a, gateway_a)
    for client in (gateway_b, world_b.web):  # B's own clients, at B's endpoint
        assert _revoke(issuer_b, token, client).status_code == 200
    # A's client is unknown at B.
    assert_oauth_error(_revoke(issuer_b, token, gateway_a), "invalid_client", 401)
    assert _active(issuer_a, token, gateway_a)
    if deny_list.redis is not None:
        assert deny_list.keys() == []


def test_a_revocation_at_a_leaves_a_token_of_b_with_the_same_jti_active(
        deny_list, live_server, issuer_a, issuer_b, world_a, world_b):
    """The deny list is keyed per tenant: even one jti shared by two tenants' tokens (random
    128-bit values never are, but the isolation must not rest on that) is revoked only where
    its client revoked it."""
    gateway_a, gateway_b = _jwt_client(world_a), _jwt_client(world_b)
    token_a = _client_credentials_token(issuer_a, gateway_a)
    token_b = _mint(world_b, issuer_b, gateway_b, lifetime=600, jti=_claims(token_a)["jti"])
    assert _active(issuer_b, token_b, gateway_b)

    assert _revoke(issuer_a, token_a, gateway_a).status_code == 200
    assert not _active(issuer_a, token_a, gateway_a)
    assert _active(issuer_b, token_b, gateway_b)
    # And the other way round.
    assert _revoke(issuer_b, token_b, gateway_b).status_code == 200
    assert not _active(issuer_b, token_b, gateway_b)
    if deny_list.redis is not None:
        assert [key.split(denylist.KEY_PREFIX)[1] for key in deny_list.keys()] == sorted(
            f":{world.tenant.pk}:{_claims(token_a)['jti']}" for world in (world_a, world_b))


# --- what is stored -----------------------------------------------------------------------------


def test_an_entry_lives_as_long_as_its_token_and_none_is_kept_for_an_expired_one(
        redis_deny_list, live_server, issuer_a, world_a):
    gateway = _jwt_client(world_a)
    expired = _mint(world_a, issuer_a, gateway, lifetime=-5)
    assert _revoke(issuer_a, expired, gateway).status_code == 200
    assert redis_deny_list.keys() == []
    assert not [e for e in _revocation_events(world_a) if e.target_type == "jwt_access_token"]

    short = _mint(world_a, issuer_a, gateway, lifetime=30)
    assert _active(issuer_a, short, gateway)
    assert _revoke(issuer_a, short, gateway).status_code == 200
    [key] = redis_deny_list.keys()
    assert key.endswith(f"{denylist.KEY_PREFIX}:{world_a.tenant.pk}:{_claims(short)['jti']}")
    remaining = _claims(short)["exp"] - time.time()
    ttl = redis_deny_list.redis.ttl(key)
    assert remaining + denylist.CLOCK_SKEW_MARGIN - 10 <= ttl <= remaining + denylist.CLOCK_SKEW_MARGIN + 1, ttl
    # Nothing but a marker: the token is not in Redis.
    assert short.encode() not in redis_deny_list.redis.get(key)
    assert not _active(issuer_a, short, gateway)


# --- Redis unreachable ----------------------------------------------------------------------------


def test_with_redis_unreachable_jwts_fail_closed_and_opaque_tokens_carry_on(
        live_server, issuer_a, world_a, settings, warnings_logged):
    _local_memory(settings)
    gateway = _jwt_client(world_a)
    machine_jwt = _client_credentials_token(issuer_a, gateway)
    user_jwt = _user_flow_tokens(live_server, issuer_a, gateway)["access_token"]
    machine_opaque = _client_credentials_token(issuer_a, world_a.web)
    user_tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    assert machine_opaque.count(".") == 0 and user_tokens["access_token"].count(".") == 0

    settings.CACHES = {"default": {"BACKEND": REDIS, "LOCATION": f"redis://127.0.0.1:{_closed_port()}/0"}}

    assert introspect(issuer_a, machine_jwt, *_creds(gateway)) == {"active": False}
    assert introspect(issuer_a, user_jwt, *_creds(gateway)) == {"active": False}
    _assert_invalid_token(_userinfo(issuer_a, user_jwt))
    assert _active(issuer_a, machine_opaque, world_a.web)
    assert _active(issuer_a, user_tokens["access_token"], world_a.web)
    assert _active(issuer_a, user_tokens["refresh_token"], world_a.web, "refresh_token")
    assert _userinfo(issuer_a, user_tokens["access_token"]).status_code == 200

    logged = [r.getMessage() for r in warnings_logged]
    assert any("deny list unreachable" in m and _claims(machine_jwt)["jti"] in m and "introspection" in m
               for m in logged), logged
    assert any("deny list unreachable" in m and _claims(user_jwt)["jti"] in m and "userinfo" in m
               for m in logged), logged
    assert not any(token in m for m in logged for token in (machine_jwt, user_jwt))

    # Revoking a row-less JWT cannot take effect: 503, the client retries (RFC 7009 §2.2.1).
    response = _revoke(issuer_a, machine_jwt, gateway)
    assert response.status_code == 503, response.text
    assert response.json()["error"] == "temporarily_unavailable" and response.headers["Retry-After"]
    # A JWT with a row is revoked by deleting the row: 200.
    assert _revoke(issuer_a, user_jwt, gateway).status_code == 200
    # An opaque token never needed Redis.
    assert _revoke(issuer_a, machine_opaque, world_a.web).status_code == 200

    _local_memory(settings)  # Redis is back (empty)
    assert _active(issuer_a, machine_jwt, gateway)  # the 503 told the truth: not revoked
    assert introspect(issuer_a, user_jwt, *_creds(gateway)) == {"active": False}
    _assert_invalid_token(_userinfo(issuer_a, user_jwt))
    assert not _active(issuer_a, machine_opaque, world_a.web)
    assert _revoke(issuer_a, machine_jwt, gateway).status_code == 200
    assert introspect(issuer_a, machine_jwt, *_creds(gateway)) == {"active": False}
    assert not any(token in r.getMessage() for r in warnings_logged for token in (machine_jwt, user_jwt))


def test_the_deploy_check_warns_when_other_processes_cannot_see_the_deny_list(settings):
    for backend in (LOCMEM, "django.core.cache.backends.dummy.DummyCache"):
        settings.CACHES = {"default": {"BACKEND": backend}}
        assert [m.id for m in denylist.check_shared_backend()] == ["tessera.W003"]
    settings.CACHES = {"default": {"BACKEND": REDIS, "LOCATION": "redis://127.0.0.1:6379/0"}}
    assert denylist.check_shared_backend() == []
