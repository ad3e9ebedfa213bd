"""The audit trail: what real flows record, the hash chain, tamper evidence, the append-only
guarantees of the database, risk signals, sanitisation and the JSON log line."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from audit import chain, recording, verification
from audit.models import Action, AuditEvent
from audit.recording import record
from audit.retention import purge
from audit.sanitise import sanitise
from audit.verification import verify_chain
from core.actors import system_actor
from tenants.context import tenant_context
from tests.conftest import PASSWORD
from tests.oidc import Browser
from tests.security.flows import full_flow, refresh, token_request

DAY = timedelta(days=1)


def revoke(issuer: str, token: str, client_id: str, secret: str):
    return token_request(issuer, {"token": token}, client_id, secret, endpoint="revoke")


def _events(world) -> list[AuditEvent]:
    with tenant_context(world.tenant):
        return list(AuditEvent.objects.order_by("seq"))


def _failed_login(live_server, issuer, username, password, browser=None):
    browser = browser or Browser(live_server.url)
    return browser.submit(browser.go(f"{issuer}/login"), {"username": username, "password": password})


# --- what real flows record ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_real_flows_leave_a_verifiable_chain_of_the_right_events(live_server, issuer_a, world_a, world_b):
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    _failed_login(live_server, issuer_a, "alice", "not-the-password")
    browser = Browser(live_server.url)
    tokens = full_flow(browser, issuer_a, world_a)
    rotated = refresh(issuer_a, tokens["refresh_token"], client_id, secret).json()
    assert refresh(issuer_a, tokens["refresh_token"], client_id, secret).status_code == 400  # reuse
    machine = token_request(issuer_a, {"grant_type": "client_credentials"}, client_id, secret).json()
    assert revoke(issuer_a, machine["access_token"], client_id, secret).status_code == 200

    events = _events(world_a)
    actions = [e.action for e in events]
    # The fixture turns risk step-up off (a policy change, audited) before it adds anyone.
    assert actions[:8] == ["tenant.created", "key.created", "key.created", "tenant.policy_updated", "user.created",
                           "client.created", "client.created", "client.created"]
    for expected in ("auth.login.failed", "auth.login.succeeded", "consent.granted",
                     "token.issued", "token.refreshed", "token.reuse_detected", "token.revoked"):
        assert expected in actions, expected
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    failed = next(e for e in events if e.action == Action.LOGIN_FAILED)
    assert (failed.outcome, failed.subject, failed.actor_type) == ("failure", "alice", "anonymous")
    assert failed.ip == "127.0.0.1" and failed.request_id and failed.user_agent
    issued = next(e for e in events if e.action == Action.TOKEN_ISSUED)
    assert issued.actor == {"client_id": client_id, "name": "Acme Corp Web"}
    assert issued.details["grant_type"] == "authorization_code" and issued.target_id == str(world_a.user.uid)
    reuse = next(e for e in events if e.action == Action.TOKEN_REUSE_DETECTED)
    assert reuse.details["reason"] == "refresh_token_reused" and reuse.outcome == "failure"
    assert rotated["access_token"]
    with tenant_context(world_a.tenant):
        assert verify_chain().ok
    # B's chain holds B's events only, and verifies on its own.
    assert {e.tenant_id for e in _events(world_b)} == {world_b.tenant.pk}
    with tenant_context(world_b.tenant):
        assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_no_secret_reaches_an_audit_event(live_server, issuer_a, world_a):
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    wrong = "Correct-Horse-But-Wrong-42"
    _failed_login(live_server, issuer_a, "alice", wrong)
    _failed_login(live_server, issuer_a, wrong, PASSWORD)  # a password typed into the username box
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    rotated = refresh(issuer_a, tokens["refresh_token"], client_id, secret).json()
    revoke(issuer_a, rotated["refresh_token"], client_id, secret)
    bearer = [tokens["access_token"], tokens["refresh_token"], tokens["id_token"], tokens["code"],
              rotated["access_token"], rotated["refresh_token"], secret, PASSWORD,
              world_a.first_party.client_secret]
    with tenant_context(world_a.tenant):
        dumped = [json.dumps(chain.as_json(e)) for e in AuditEvent.objects.all()]
    assert len(dumped) > 10
    for line in dumped:
        for value in bearer:
            assert value not in line
    # The password typed as a username is kept as the attempted username (as Keycloak does),
    # but a wrong password never is.
    assert not any(wrong in line and "auth.login.failed" in line and '"username":"alice"' in line
                   for line in dumped)


def test_sanitise_redacts_by_name_and_by_shape():
    jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    cleaned = sanitise({
        "password": "x", "client_secret": "y", "refresh_token": "z", "code_verifier": "v",
        "totp_seed": "s", "nested": {"Authorization": "Basic abc", "note": jwt},
        "opaque": "A" * 43, "client_id": "c" * 40, "scope": "openid profile", "count": 3,
    })
    assert cleaned == {
        "password": "[redacted]", "client_secret": "[redacted]", "refresh_token": "[redacted]",
        "code_verifier": "[redacted]", "totp_seed": "[redacted]",
        "nested": {"Authorization": "[redacted]", "note": "[redacted]"},
        "opaque": "[redacted]", "client_id": "c" * 40, "scope": "openid profile", "count": 3,
    }


def test_sanitise_redacts_secret_names_not_names_that_contain_a_secret_word():
    """By the detail's name (its last word) and the value's shape, not by substring: a
    substring rule redacted access_token_format, token_type and code_challenge_method."""
    kept = {"access_token_format": "jwt", "token_type": "Bearer", "code_challenge_method": "S256",
            "grant_type": "refresh_token", "passkey_name": "laptop", "session_count": 2, "key_id": "k1",
            "hint": "access_token", "secret_rotated": True}
    assert sanitise(kept) == kept
    redacted = ["password", "new_password", "clientSecret", "access_token", "id_token", "otp_token",
                "recovery_code", "session_key", "private_key", "X-Api-Key", "Cookie", "assertion"]
    assert sanitise({k: "v" for k in redacted}) == {k: "[redacted]" for k in redacted}


# --- tamper evidence ----------------------------------------------------------------------


def _as_owner(tenant, *statements: tuple[str, list]) -> None:
    """Run SQL as the table owner (who can disable the trigger), in the tenant's RLS scope."""
    owner = connections["owner"]
    with owner.cursor() as cursor:
        cursor.execute("BEGIN")
        cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.pk)])
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("COMMIT")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, databases=["default", "owner"])
@pytest.mark.parametrize("tamper, reason", [
    ("UPDATE audit_auditevent SET details = '{\"name\": \"Evil Corp\"}' WHERE seq = %s", "altered"),
    ("DELETE FROM audit_auditevent WHERE seq = %s", "deleted"),
    ("UPDATE audit_auditevent SET occurred = occurred - interval '1 day' WHERE seq = %s", "altered"),
])
def test_editing_the_trail_as_the_owner_is_detected(world_a, tamper, reason, capsys):
    with tenant_context(world_a.tenant):
        assert verify_chain().ok
    _as_owner(world_a.tenant,
              ("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only", []),
              (tamper, [2]),
              ("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_append_only", []))
    with tenant_context(world_a.tenant):
        result = verify_chain()
    assert not result.ok and result.broken_seq in (2, 3) and reason in result.reason
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit", "--tenant", "acme")
    assert failure.value.returncode == 1
    assert f"acme: BROKEN at event #{result.broken_seq}" in capsys.readouterr().out


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, databases=["default", "owner"])
def test_dropping_the_newest_events_is_detected(world_a):
    with tenant_context(world_a.tenant):
        last = AuditEvent.objects.order_by("-seq").first().seq
    owner = connections["owner"]
    try:
        _as_owner(world_a.tenant,
                  ("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only", []),
                  ("DELETE FROM audit_auditevent WHERE seq = %s", [last]),
                  ("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_append_only", []))
    finally:
        owner.close()
    with tenant_context(world_a.tenant):
        result = verify_chain()
    assert not result.ok and "chain head" in result.reason


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, databases=["default", "owner"])
def test_the_app_role_cannot_change_events_and_the_owner_is_stopped_by_the_trigger(world_a):
    with tenant_context(world_a.tenant):
        for sql in ("UPDATE audit_auditevent SET outcome = 'failure'", "DELETE FROM audit_auditevent"):
            with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(sql)
        assert AuditEvent.objects.count() >= 3
    for sql in ("UPDATE audit_auditevent SET outcome = 'failure'", "DELETE FROM audit_auditevent"):
        with pytest.raises(DatabaseError, match="append-only"):
            _as_owner(world_a.tenant, (sql, []))
        connections["owner"].close()
    with tenant_context(world_a.tenant):
        assert verify_chain().ok


@pytest.mark.django_db(transaction=True, databases=["default", "owner"])
def test_retention_purge_keeps_the_chain_verifiable_and_spares_recent_events():
    from tenants.services import create_tenant

    actor = system_actor("pytest")
    # Only the owner (or a role it grants EXECUTE) purges; on SQLite there are no roles.
    purger = "owner" if connection.vendor == "postgresql" else "default"
    with mock.patch("django.utils.timezone.now", return_value=timezone.now() - 90 * DAY):
        tenant = create_tenant("oldco", "Old Co")  # events 1-3: the tenant and its two keys
        with tenant_context(tenant):
            for _ in range(3):  # events 4-6
                record(Action.ADMIN_ACTION, actor=actor, details={"n": "old"})
    with tenant_context(tenant):
        record(Action.ADMIN_ACTION, actor=actor, details={"n": "new"})  # event 7
        record(Action.ADMIN_ACTION, actor=actor, details={"n": "old"})  # recent, whatever it says
        # Asked to purge everything, it keeps the last 30 days.
        assert purge(timezone.now(), actor=actor, using=purger) == 6
        assert list(AuditEvent.objects.values_list("seq", flat=True)) == [7, 8, 9]
        purged = AuditEvent.objects.get(seq=9)
        assert purged.action == "audit.purged" and purged.details["through_seq"] == 6
        result = verify_chain()
        assert result.ok and result.first_seq == 7, result
        assert purge(timezone.now(), actor=actor, using=purger) == 0  # nothing more is old enough
    connections["owner"].close()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_app_role_can_neither_purge_nor_delete_the_chain_head(world_a):
    """A compromised web process cannot shorten the trail: no EXECUTE on the purge function,
    no DELETE on events or the head (UPDATE of the head it needs, to append)."""
    with tenant_context(world_a.tenant):
        for sql in ("SELECT audit_purge_through(1000000)", "DELETE FROM audit_chainhead",
                    "DELETE FROM audit_checkpoint", "UPDATE audit_checkpoint SET seq = 1"):
            with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(sql)
        assert verify_chain().ok


# --- risk signals ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_risk_score_explains_failures_new_devices_and_new_ips(live_server, issuer_a, world_a):
    browser = Browser(live_server.url)
    first = browser.submit(browser.go(f"{issuer_a}/login"), {"username": "alice", "password": PASSWORD})
    assert 'name="password"' not in first.text
    for _ in range(2):
        _failed_login(live_server, issuer_a, "alice", "wrong-password-1", browser=Browser(live_server.url))
    fresh = Browser(live_server.url)  # another browser: a device never seen for alice
    fresh.submit(fresh.go(f"{issuer_a}/login"), {"username": "alice", "password": PASSWORD})
    again = browser.submit(browser.go(f"{issuer_a}/login"), {"username": "alice", "password": PASSWORD})
    assert again.status_code == 200
    logins = [e for e in _events(world_a) if e.action.startswith("auth.login")]
    assert [e.action for e in logins] == ["auth.login.succeeded", "auth.login.failed", "auth.login.failed",
                                          "auth.login.succeeded", "auth.login.succeeded"]
    first_ok, fail1, fail2, new_device, known_device = logins
    assert first_ok.risk_score == 0 and first_ok.risk_reasons == []
    assert fail2.risk_reasons == ["1 failed sign-in(s) for this user in the last hour",
                                  "1 failed sign-in(s) from this IP in the last hour",
                                  "first sign-in from this device"]
    assert fail2.risk_score == 10 + 5 + 20
    assert new_device.risk_reasons == ["2 failed sign-in(s) for this user in the last hour",
                                       "2 failed sign-in(s) from this IP in the last hour",
                                       "first sign-in from this device"]
    assert new_device.risk_score == 20 + 10 + 20
    assert "first sign-in from this device" not in known_device.risk_reasons
    assert known_device.risk_score == 20 + 10
    assert new_device.device and new_device.device != known_device.device == first_ok.device


@pytest.mark.django_db(transaction=True)
def test_risk_score_flags_a_new_ip_address(world_a):
    from audit.context import RequestInfo, request_info

    with tenant_context(world_a.tenant):
        with request_info(RequestInfo(ip="192.0.2.1", device="d1")):
            first = record(Action.LOGIN_SUCCEEDED, actor=system_actor("pytest"), subject="alice", assess_risk=True)
        with request_info(RequestInfo(ip="203.0.113.9", device="d1")):
            moved = record(Action.LOGIN_SUCCEEDED, actor=system_actor("pytest"), subject="Alice", assess_risk=True)
    assert first.risk_score == 0
    assert moved.risk_reasons == ["first sign-in from this IP address"] and moved.risk_score == 10


# --- the log line ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_each_committed_event_is_one_json_log_line(world_a, caplog):
    caplog.set_level(logging.INFO, logger="tessera.audit")
    actor = system_actor("pytest")
    with tenant_context(world_a.tenant):
        with pytest.raises(RuntimeError), transaction.atomic():
            record(Action.ADMIN_ACTION, actor=actor, details={"n": "rolled back"})
            raise RuntimeError
        record(Action.ADMIN_ACTION, actor=actor, details={"n": "kept", "password": "hunter2"})
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tessera.audit"]
    assert [line["details"] for line in lines] == [{"n": "kept", "password": "[redacted]"}]
    with tenant_context(world_a.tenant):
        stored = AuditEvent.objects.get(seq=lines[0]["seq"])
    assert lines[0]["hash"] == stored.hash and lines[0]["action"] == "admin.action"
    assert not AuditEvent.unscoped.filter(details__n="rolled back").exists()


def test_unknown_actions_are_refused(world_a):
    with tenant_context(world_a.tenant), pytest.raises(ValueError, match="Unknown audit action"):
        record("user.teleported", actor=system_actor("pytest"))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_events_chained_at_commit_follow_their_savepoints(world_a):
    """In a request, events are chained as the transaction's last statement; an event whose
    savepoint rolled back (the change it recorded was undone) never reaches the trail."""
    actor = system_actor("pytest")
    with tenant_context(world_a.tenant):
        before = AuditEvent.objects.count()
        with recording.chained_at_commit(), transaction.atomic():
            record(Action.ADMIN_ACTION, actor=actor, details={"n": "kept 1"})
            with pytest.raises(RuntimeError), transaction.atomic():
                record(Action.ADMIN_ACTION, actor=actor, details={"n": "undone"})
                raise RuntimeError
            with transaction.atomic():
                record(Action.ADMIN_ACTION, actor=actor, details={"n": "kept 2"})
            assert AuditEvent.objects.count() == before  # nothing chained yet
            recording.flush()
        kept = list(AuditEvent.objects.filter(seq__gt=before).values_list("details__n", flat=True))
        assert kept == ["kept 1", "kept 2"]
        assert verify_chain().ok


@pytest.mark.django_db(transaction=True)
def test_verification_ignores_events_appended_while_it_runs(world_a):
    """A live system keeps appending: the walk stops at the head it read first."""
    calls = []
    real_events = verification._events

    def events_then_append(through_seq):
        for event in real_events(through_seq):
            if not calls:
                calls.append(record(Action.ADMIN_ACTION, actor=system_actor("pytest")))
            yield event

    with tenant_context(world_a.tenant), mock.patch.object(verification, "_events", events_then_append):
        result = verify_chain()
    assert calls and result.ok, result


@pytest.mark.django_db(transaction=True)
def test_django_admin_actions_are_audited(world_a):
    from django.contrib.admin.models import CHANGE, LogEntry
    from django.contrib.contenttypes.models import ContentType

    from accounts.models import User

    with tenant_context(world_a.tenant):
        LogEntry.objects.create(user=world_a.user, content_type=ContentType.objects.get_for_model(User),
                                object_id=str(world_a.user.pk), object_repr="alice", action_flag=CHANGE,
                                change_message='[{"changed": {"fields": ["Email"]}}]')
        event = AuditEvent.objects.filter(action=Action.ADMIN_ACTION).get()
    assert event.actor_id == str(world_a.user.uid) and event.target_id == str(world_a.user.pk)
    assert event.details == {"flag": "Change", "object": "alice", "change": "Changed Email."}
