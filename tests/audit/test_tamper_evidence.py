"""The audit chain against whoever can write its tables but does not hold the key-encryption
key: a database operator, a restored backup, an attacker with the owner's password.

Plain SHA-256 links can be recomputed by anyone who rewrites an event; the keyed links
(``mac``) cannot, and signed checkpoints (a JWS by the tenant's key) pin the head in places
the database does not control: the log line, an export, a file an auditor keeps. A chain
cut short and its head moved back, which nothing in the database can reveal, is reported
against any checkpoint obtained before the cut.
"""

from __future__ import annotations

import io
import json
import logging

import pytest
import requests
from django.core.management import CommandError, call_command
from django.db import connection, connections

from audit import checkpoints
from audit.chain import content_hash, fields_of, link_hash
from audit.models import Action, AuditEvent, ChainHead, Checkpoint
from audit.recording import record
from audit.verification import verify_chain
from core.actors import system_actor
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "owner"])
ACTOR = system_actor("pytest")


def _write_as_owner(tenant, *statements: tuple[str, list]) -> None:
    """SQL as whoever may write the tables: the owner with the append-only trigger held off
    (PostgreSQL), or anyone with the file (SQLite)."""
    if connection.vendor != "postgresql":
        with connection.cursor() as cursor:
            for sql, params in statements:
                cursor.execute(sql, params)
        return
    owner = connections["owner"]
    try:
        with owner.cursor() as cursor:
            cursor.execute("BEGIN")
            cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant.pk)])
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only")
            for sql, params in statements:
                cursor.execute(sql, params)
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_append_only")
            cursor.execute("COMMIT")
    finally:
        owner.close()


def _events(tenant) -> list[AuditEvent]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.order_by("seq"))


def _some_events(world, n: int = 5) -> None:
    with tenant_context(world.tenant):
        for i in range(n):
            record(Action.ADMIN_ACTION, actor=ACTOR, details={"n": i})


def _rewrite_with_recomputed_hashes(tenant, seq: int, details: dict) -> None:
    """Change event ``seq`` and recompute every later public link and the head, as anyone
    who knows the algorithm can; leave the keyed links, which need the key."""
    events = _events(tenant)
    statements = []
    prev = None
    for event in events:
        if event.seq == seq:
            event.details = details
        if prev is not None:
            event.prev_hash = prev
        new_hash = link_hash(event.prev_hash, content_hash(fields_of(event)))
        if event.seq >= seq:
            statements.append(("UPDATE audit_auditevent SET details = %s, prev_hash = %s, hash = %s WHERE id = %s",
                               [json.dumps(event.details), event.prev_hash, new_hash, event.pk]))
        prev = event.hash = new_hash
    statements.append(("UPDATE audit_chainhead SET last_hash = %s, prev_hash = %s WHERE tenant_id = %s",
                       [prev, events[-1].prev_hash, tenant.pk]))
    _write_as_owner(tenant, *statements)


def test_a_rewritten_event_with_every_hash_recomputed_is_caught_by_the_keyed_links(world_a):
    _some_events(world_a)
    with tenant_context(world_a.tenant):
        assert verify_chain().ok
    _rewrite_with_recomputed_hashes(world_a.tenant, 4, {"n": "rewritten"})
    with tenant_context(world_a.tenant):
        result = verify_chain()
    assert not result.ok and result.broken_seq == 4 and "keyed link" in result.reason, result


def test_a_chain_cut_short_is_caught_by_a_checkpoint_taken_before(world_a, caplog, tmp_path):
    """Deleting the newest events and moving the head back leaves a consistent chain in the
    database (no key can reveal it from there), but the checkpoint that left it earlier
    (here: the log line) still names the lost head."""
    caplog.set_level(logging.INFO, logger="tessera.audit")
    _some_events(world_a)
    with tenant_context(world_a.tenant):
        sealed = checkpoints.write()
    logged = [r.getMessage() for r in caplog.records if r.name == "tessera.audit" and '"checkpoint"' in r.getMessage()]
    assert any(sealed.jws in line for line in logged), "the checkpoint never left the database"
    kept = tmp_path / "audit.log"
    kept.write_text("\n".join(logged) + "\n")

    events = _events(world_a.tenant)
    keep = events[-3]
    _write_as_owner(world_a.tenant,
                    ("DELETE FROM audit_auditevent WHERE tenant_id = %s AND seq > %s", [world_a.tenant.pk, keep.seq]),
                    ("DELETE FROM audit_checkpoint WHERE tenant_id = %s", [world_a.tenant.pk]),
                    ("UPDATE audit_chainhead SET seq = %s, prev_hash = %s, last_hash = %s WHERE tenant_id = %s",
                     [keep.seq, keep.prev_hash, keep.hash, world_a.tenant.pk]))
    with tenant_context(world_a.tenant):
        assert verify_chain().ok, "(from inside the database alone, the cut cannot be seen)"
        result = verify_chain(external=[sealed.jws])
    assert not result.ok and "cut off" in result.reason, result
    with pytest.raises(CommandError) as failure:
        call_command("verify_audit", "--tenant", "acme", "--checkpoints", str(kept), stdout=io.StringIO())
    assert failure.value.returncode == 1


@pytest.mark.parametrize("keys", ["deleted", "kid rewritten"])
def test_a_cut_is_still_caught_when_the_key_rows_are_tampered_with_too(live_server, issuer_a, world_a, keys,
                                                                       tmp_path):
    """Whoever cuts the chain may also remove or rewrite the key rows the checkpoint's
    signature is checked against: the earlier checkpoint then no longer verifies, which is
    reported, never skipped; and the auditor's own copy of the JWKS still names the cut."""
    jwks = tmp_path / "jwks.json"
    jwks.write_text(requests.get(f"{issuer_a}/jwks.json").text)
    _some_events(world_a)
    with tenant_context(world_a.tenant):
        sealed = checkpoints.write()
    keep = _events(world_a.tenant)[-3]
    t = world_a.tenant.pk
    key_sql = ("DELETE FROM idp_signingkey WHERE tenant_id = %s" if keys == "deleted" else
               "UPDATE idp_signingkey SET public_jwk = public_jwk || '{\"kid\": \"other\"}' WHERE tenant_id = %s")
    if connection.vendor != "postgresql" and keys != "deleted":
        key_sql = "UPDATE idp_signingkey SET public_jwk = json_set(public_jwk, '$.kid', 'other') WHERE tenant_id = %s"
    _write_as_owner(world_a.tenant,
                    ("DELETE FROM audit_auditevent WHERE tenant_id = %s AND seq > %s", [t, keep.seq]),
                    ("DELETE FROM audit_checkpoint WHERE tenant_id = %s", [t]),
                    ("UPDATE audit_chainhead SET seq = %s, prev_hash = %s, last_hash = %s WHERE tenant_id = %s",
                     [keep.seq, keep.prev_hash, keep.hash, t]),
                    (key_sql, [t]))
    with tenant_context(world_a.tenant):
        result = verify_chain(external=[sealed.jws])
        assert not result.ok and "does not verify" in result.reason, result
        pinned = verify_chain(external=[sealed.jws], keys=json.loads(jwks.read_text())["keys"])
        assert not pinned.ok and "cut off" in pinned.reason, pinned
    kept = tmp_path / "checkpoints.txt"
    kept.write_text(sealed.jws + "\n")
    with pytest.raises(CommandError):
        call_command("verify_audit", "--tenant", "acme", "--checkpoints", str(kept), "--jwks", str(jwks),
                     stdout=io.StringIO())


def test_events_beyond_a_head_moved_back_are_reported(world_a):
    _some_events(world_a)
    events = _events(world_a.tenant)
    back = events[-3]
    _write_as_owner(world_a.tenant,
                    ("UPDATE audit_chainhead SET seq = %s, prev_hash = %s, last_hash = %s WHERE tenant_id = %s",
                     [back.seq, back.prev_hash, back.hash, world_a.tenant.pk]))
    with tenant_context(world_a.tenant):
        result = verify_chain()
    assert not result.ok and "beyond the chain head" in result.reason, result


def test_a_forged_or_altered_checkpoint_is_refused(world_a):
    _some_events(world_a)
    with tenant_context(world_a.tenant):
        sealed = checkpoints.write()
    header, payload, signature = sealed.jws.split(".")
    altered = ".".join([header, payload[:-2] + ("AA" if payload[-2:] != "AA" else "BB"), signature])
    _write_as_owner(world_a.tenant, ("UPDATE audit_checkpoint SET jws = %s WHERE id = %s", [altered, sealed.pk]))
    with tenant_context(world_a.tenant):
        result = verify_chain()
    assert not result.ok and "does not verify" in result.reason, result


def test_checkpoints_are_written_as_the_chain_grows_and_verify(world_a, settings):
    with tenant_context(world_a.tenant):
        start = ChainHead.objects.get().seq
    settings.TESSERA = {**settings.TESSERA, "AUDIT_CHECKPOINT_INTERVAL": 4}
    _some_events(world_a, 9)
    with tenant_context(world_a.tenant):
        seqs = list(Checkpoint.objects.order_by("seq").values_list("seq", flat=True))
        head = ChainHead.objects.get().seq
        result = verify_chain()
    assert seqs == [s for s in range(start + 1, head + 1) if s % 4 == 0], (start, seqs, head)
    assert result.ok and result.checkpoint_seq == seqs[-1], result


def test_an_export_verifies_offline_with_the_published_jwks_alone(live_server, issuer_a, world_a, tmp_path):
    _some_events(world_a)
    export = tmp_path / "acme.jsonl"
    call_command("export_audit", "--tenant", "acme", "--output", str(export))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(requests.get(f"{issuer_a}/jwks.json").text)
    out = io.StringIO()
    call_command("verify_audit", "--export", str(export), "--jwks", str(jwks), stdout=out)
    assert "ok" in out.getvalue() and "signed checkpoint at #" in out.getvalue(), out.getvalue()

    lines = export.read_text().splitlines()
    events = [i for i, line in enumerate(lines) if '"type":"event"' in line]
    # An event altered in the export (and its public links recomputed, as anyone can).
    tampered = list(lines)
    victim = json.loads(tampered[events[2]])
    victim["details"] = {"n": "rewritten"}
    tampered[events[2]] = json.dumps(victim)
    # The newest events dropped from the export.
    truncated = [line for i, line in enumerate(lines) if i not in events[-2:]]
    # No checkpoint: nothing vouches for the events.
    unsigned = [line for line in lines if '"type":"checkpoint"' not in line]
    for name, variant in (("tampered", tampered), ("truncated", truncated), ("unsigned", unsigned)):
        path = tmp_path / f"{name}.jsonl"
        path.write_text("\n".join(variant) + "\n")
        out = io.StringIO()
        with pytest.raises(CommandError) as failure:
            call_command("verify_audit", "--export", str(path), "--jwks", str(jwks), stdout=out)
        assert failure.value.returncode == 1, name
        assert "BROKEN" in out.getvalue(), (name, out.getvalue())
    # Another tenant's keys do not vouch for this export.
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"keys": []}))
    with pytest.raises(CommandError):
        call_command("verify_audit", "--export", str(export), "--jwks", str(other), stdout=io.StringIO())


def test_a_nul_character_never_makes_an_audit_write_fail(world_a):
    with tenant_context(world_a.tenant):
        event = record(Action.LOGIN_FAILED, actor=ACTOR, subject="mal\x00lory",
                       details={"username": "mal\x00lory", "nested": ["a\x00b"], "k\x00ey": 1})
        stored = AuditEvent.objects.get(seq=event.seq)
        assert "\x00" not in json.dumps(stored.details) and "\x00" not in stored.subject
        assert stored.subject == "mal\ufffdlory"
        assert verify_chain().ok
