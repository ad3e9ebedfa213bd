"""The audit spool (audit.spool, audit.shipper): stateless grants' events go through a real Redis stream
(appendfsync always) and a shipper into each tenant's hash chain, and are never lost on the
way: Redis down, a shipper dying before or after its commit, a second delivery."""

from __future__ import annotations

import io
import logging
from unittest import mock

import pytest
import redis
from django.core.management import CommandError, call_command
from prometheus_client import REGISTRY

from audit import shipper, spool
from audit.models import Action, AuditEvent
from audit.verification import verify_chain
from idp.models import GrantType
from idp.services.clients import create_client
from tenants.context import tenant_context
from tests.security.flows import token_request

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _jwt_client(world):
    with tenant_context(world.tenant):
        return create_client(name="M2M", confidential=True, algorithm="ES256", access_token_format="jwt",
                             grant_types=[GrantType.CLIENT_CREDENTIALS], redirect_uris=[])


def _grant(issuer, client):
    response = token_request(issuer, {"grant_type": "client_credentials"},
                             client.application.client_id, client.client_secret)
    assert response.status_code == 200, response.text
    return response


def _issued(world, client) -> list[AuditEvent]:
    with tenant_context(world.tenant):
        return list(AuditEvent.objects.filter(action=Action.TOKEN_ISSUED,
                                              actor_id=client.application.client_id).order_by("seq"))


def test_stateless_grants_are_spooled_then_chained_per_tenant(
        audit_spool, live_server, issuer_a, issuer_b, world_a, world_b, caplog):
    m2m_a, m2m_b = _jwt_client(world_a), _jwt_client(world_b)
    first = _grant(issuer_a, m2m_a)
    _grant(issuer_a, m2m_a)
    _grant(issuer_b, m2m_b)

    # Durable in Redis before the response, not yet in the database.
    assert audit_spool.xlen(spool.STREAM) == 3
    assert _issued(world_a, m2m_a) == [] and _issued(world_b, m2m_b) == []
    raw = str(audit_spool.xrange(spool.STREAM))
    for secret in (first.json()["access_token"], m2m_a.client_secret, m2m_b.client_secret):
        assert secret not in raw

    caplog.set_level(logging.INFO, logger="tessera.audit")
    out = io.StringIO()
    call_command("ship_audit", "--once", stdout=out)
    assert out.getvalue().strip() == "shipped 3 event(s); 0 left in the spool"
    assert audit_spool.xlen(spool.STREAM) == 0

    events = _issued(world_a, m2m_a)
    assert len(events) == 2 and all(e.spool_id for e in events)
    assert events[0].request_id == first.headers["X-Request-ID"]
    assert events[0].details["grant_type"] == "client_credentials" and events[0].details["format"] == "jwt"
    assert len(_issued(world_b, m2m_b)) == 1
    for world in (world_a, world_b):  # chained after the tenant's synchronous events, and verifiable
        with tenant_context(world.tenant):
            assert verify_chain().ok
    logged = [r.getMessage() for r in caplog.records if r.name == "tessera.audit"]
    assert sum('"action":"token.issued"' in line for line in logged) == 3


def test_grants_that_write_tokens_stay_synchronous(audit_spool, live_server, issuer_a, world_a):
    # An opaque token is a row: its event commits with it, in the same transaction.
    _grant(issuer_a, world_a.web)
    assert audit_spool.xlen(spool.STREAM) == 0
    assert len(_issued(world_a, world_a.web)) == 1


def test_redis_down_means_written_synchronously_not_lost(live_server, issuer_a, world_a, settings, tmp_path,
                                                         caplog):
    settings.TESSERA = {**settings.TESSERA, "AUDIT_SPOOL_URL": f"unix://{tmp_path}/no-redis.sock"}
    fallbacks = REGISTRY.get_sample_value("tessera_backing_service_fallbacks_total", {"service": "audit_spool"}) or 0
    m2m = _jwt_client(world_a)
    with caplog.at_level(logging.WARNING, logger="tessera.audit.spool"):
        for _ in range(3):
            _grant(issuer_a, m2m)
    assert len(_issued(world_a, m2m)) == 3
    # One line and one count for the outage, not one per grant (a flood of grants would flood the log).
    assert [r.getMessage() for r in caplog.records if r.name == "tessera.audit.spool"] == [
        "audit spool unavailable (ConnectionError); recording synchronously until it answers again"]
    assert REGISTRY.get_sample_value("tessera_backing_service_fallbacks_total",
                                     {"service": "audit_spool"}) == fallbacks + 1
    with tenant_context(world_a.tenant):
        assert verify_chain().ok


def test_a_shipper_dying_before_or_after_its_commit_loses_and_duplicates_nothing(
        audit_spool, live_server, issuer_a, world_a, monkeypatch):
    m2m = _jwt_client(world_a)
    _grant(issuer_a, m2m)
    _grant(issuer_a, m2m)

    # Shipper 1 reads one entry and dies before chaining it (never acknowledged).
    shipper._ensure_group(audit_spool)
    audit_spool.xreadgroup(spool.GROUP, "died-before-commit", {spool.STREAM: ">"}, count=1)
    # Shipper 2 chains the other one, commits, and dies before acknowledging it.
    with mock.patch.object(redis.client.Pipeline, "execute", side_effect=redis.ConnectionError("gone")):
        with pytest.raises(redis.ConnectionError):
            shipper.ship(consumer="died-after-commit")
    assert len(_issued(world_a, m2m)) == 1
    assert audit_spool.xlen(spool.STREAM) == 2

    # Not yet idle long enough: a live shipper leaves both to their (presumed busy) readers.
    assert shipper.ship(consumer="live") == shipper.Batch(read=0, chained=0)
    # Once idle past CLAIM_IDLE_MS, it takes both over: chains the first, skips the second.
    monkeypatch.setattr(spool, "CLAIM_IDLE_MS", 0)
    assert shipper.ship(consumer="live") == shipper.Batch(read=2, chained=1)
    events = _issued(world_a, m2m)
    assert len(events) == 2 and len({e.spool_id for e in events}) == 2
    assert audit_spool.xlen(spool.STREAM) == 0
    with tenant_context(world_a.tenant):
        assert verify_chain().ok


def test_a_malformed_entry_is_left_in_the_stream_and_the_rest_shipped(
        audit_spool, live_server, issuer_a, world_a, caplog):
    m2m = _jwt_client(world_a)
    audit_spool.xadd(spool.STREAM, {"e": "{not json"})
    _grant(issuer_a, m2m)
    with caplog.at_level(logging.ERROR, logger="tessera.audit.spool"):
        assert shipper.ship() == shipper.Batch(read=2, chained=1)
    assert "malformed" in caplog.text
    assert audit_spool.xlen(spool.STREAM) == 1  # kept for the operator, never dropped


def test_deploy_check_requires_fsync_on_every_write(audit_spool, settings):
    assert spool.check_durability() == []
    audit_spool.config_set("appendfsync", "everysec")
    try:
        assert [m.id for m in spool.check_durability()] == ["tessera.E002"]
    finally:
        audit_spool.config_set("appendfsync", "always")
    settings.TESSERA = {**settings.TESSERA, "AUDIT_SPOOL_URL": "unix:///nonexistent/redis.sock"}
    assert [m.id for m in spool.check_durability()] == ["tessera.E003"]


def test_ship_audit_without_a_spool_is_a_usage_error(settings):
    settings.TESSERA = {**settings.TESSERA, "AUDIT_SPOOL_URL": ""}
    with pytest.raises(CommandError) as raised:
        call_command("ship_audit", "--once")
    assert raised.value.returncode == 2 and "TESSERA_AUDIT_SPOOL_URL" in str(raised.value)
