"""Recording, verifying and purging audit events.

``record()`` writes an event in the caller's transaction (so it commits or rolls back with
the change it records), links it into the tenant's hash chain (inside a tenant request: as
the transaction's last statement, see ``chained_at_commit``), and, once the transaction
commits, writes it as one JSON line to the ``tessera.audit`` logger.

The chain: ``content_hash = sha256(canonical JSON of the event's fields)`` and
``hash = sha256(prev_hash + content_hash)``, where ``prev_hash`` is the previous event's
``hash`` (64 zeros for the first). Editing, deleting, inserting or reordering an event
breaks the link after it; ``verify_chain`` finds the first broken one.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import re
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Iterator

from django.db import connection, transaction
from django.utils import timezone

from audit import context, risk
from audit import spool as audit_spool
from audit.models import GENESIS_HASH, Action, ActorType, AuditEvent, ChainHead, Outcome
from tenants.context import require_tenant

log = logging.getLogger("tessera.audit")

# Keys whose values never enter an event (matched anywhere in the key, case-insensitive).
SENSITIVE_KEY = re.compile(
    r"pass|secret|token|code|verifier|otp|seed|key|authori[sz]ation|cookie|credential|assertion|signature|session",
    re.IGNORECASE,
)
# Values that look like bearer material even under an innocent key: JWTs, long random strings.
SENSITIVE_VALUE = re.compile(r"^(?:eyJ[\w-]*\.[\w-]*\.[\w-]*|[A-Za-z0-9_\-+/=]{40,})$")
REDACTED = "[redacted]"
ALLOWED_KEYS = {"client_id", "kid", "key_id", "family", "anchor_hash"}  # identifiers, not secrets


def sanitise(value: Any, key: str = "") -> Any:
    """A JSON-native copy of ``value`` with secrets replaced by "[redacted]"."""
    if key and key not in ALLOWED_KEYS and SENSITIVE_KEY.search(key):
        return REDACTED
    if isinstance(value, dict):
        return {str(k): sanitise(v, str(k)) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [sanitise(v) for v in items]
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.timezone.utc).isoformat()
    text = str(value)[:512]
    if key not in ALLOWED_KEYS and SENSITIVE_VALUE.fullmatch(text):
        return REDACTED
    return text


@dataclass(frozen=True)
class Actor:
    type: str
    id: str = ""
    snapshot: dict = field(default_factory=dict)


def user_actor(user) -> Actor:
    return Actor(ActorType.USER, str(user.uid), {"uid": str(user.uid), "username": user.username,
                                                  "email": user.email})


def client_actor(application) -> Actor:
    return Actor(ActorType.CLIENT, application.client_id,
                 {"client_id": application.client_id, "name": application.name})


def system_actor(name: str) -> Actor:
    return Actor(ActorType.SYSTEM, name, {"name": name})


ANONYMOUS = Actor(ActorType.ANONYMOUS)

# The fields the content hash covers, in order (everything but id, seq and the hashes).
HASHED_FIELDS = (
    "tenant_id", "occurred", "action", "outcome", "actor_type", "actor_id", "actor", "subject",
    "target_type", "target_id", "ip", "user_agent", "request_id", "device", "risk_score",
    "risk_reasons", "details",
)


def _canonical_time(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content_hash(fields: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an event's hashed fields."""
    canonical = {name: fields[name] for name in HASHED_FIELDS}
    canonical["occurred"] = _canonical_time(canonical["occurred"])
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def link_hash(prev_hash: str, content: str) -> str:
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


_ACTIONS = frozenset(Action.values)  # Action.values builds a new list on every access


def record(
    action: str,
    *,
    actor: Actor,
    outcome: str = Outcome.SUCCESS,
    target: tuple[str, str] | None = None,
    subject: str = "",
    details: dict | None = None,
    assess_risk: bool = False,
    spool: bool = False,
) -> AuditEvent | None:
    """Append an event to the current tenant's chain, in the current transaction.

    Returns the stored event, or None when it is chained later: at the request's commit
    (``chained_at_commit``), or, with ``spool=True`` and a spool configured, by a shipper
    (audit.spool: for events of requests that write nothing else, stateless grants).
    """
    if action not in _ACTIONS:
        raise ValueError(f"Unknown audit action {action!r}: add it to audit.models.Action.")
    tenant = require_tenant()
    info = context.current()
    subject = subject.lower()[:255]
    score, reasons = (risk.assess(tenant.pk, subject, info.ip, info.device)
                      if assess_risk and subject else (0, []))
    fields = {
        "tenant_id": tenant.pk,
        "occurred": timezone.now(),
        "action": str(action),
        "outcome": str(outcome),
        "actor_type": str(actor.type),
        "actor_id": actor.id[:255],
        "actor": sanitise(actor.snapshot),
        "subject": subject,
        "target_type": target[0] if target else "",
        "target_id": str(target[1])[:255] if target else "",
        "ip": info.ip,
        "user_agent": info.user_agent,
        "request_id": info.request_id,
        "device": info.device,
        "risk_score": score,
        "risk_reasons": reasons,
        "details": sanitise(details or {}),
    }
    spool = spool and audit_spool.enabled()
    pending = _pending.get()
    if pending is not None and connection.vendor == "postgresql" and connection.in_atomic_block:
        # Inside a tenant request: chained at flush(), just before COMMIT (decision 23), or
        # spooled there, once the response is known to succeed.
        pending.append(_Pending(fields, tuple(connection.savepoint_ids), spool))
        return None
    if spool and audit_spool.push([fields]):
        return None
    return _append_now(fields)


def _append_now(fields: dict[str, Any]) -> AuditEvent:
    with transaction.atomic(savepoint=False):
        if connection.vendor != "postgresql":  # SQLite: writers are serialised anyway
            return append_batch([(fields, None)])[0]
        event = _append_postgresql(fields, content_hash(fields))
        transaction.on_commit(lambda: _log(event), robust=True)
    return event


@dataclass
class _Pending:
    fields: dict[str, Any]
    savepoints: tuple  # Django's savepoint ids open when it was recorded
    spool: bool = False


_pending: ContextVar[list[_Pending] | None] = ContextVar("tessera_audit_pending", default=None)


@contextlib.contextmanager
def chained_at_commit() -> Iterator[None]:
    """Defer chaining the events recorded in this block's transaction to ``flush()``.

    The tenant's chain head is row-locked from the moment an event is chained until COMMIT,
    so every event of the tenant waits for it. Recorded early, an event would hold the lock
    through the rest of the request; chained by ``flush()`` as the transaction's last
    statement, it holds it for one round trip and the commit. The event row is still written
    in the same transaction as the change; savepoint rollbacks drop it (tenants.db).
    """
    token = _pending.set([])
    try:
        yield
    finally:
        _pending.reset(token)


def flush(*, commit: bool = False) -> None:
    """Chain and insert the events recorded since ``chained_at_commit()`` began (in order).

    ``commit=True`` (the request's outermost transaction, nothing left to do): the last
    event's statement carries the COMMIT, so the chain head's lock is taken and released
    inside one round trip, never held while a worker process waits for the CPU. Django's
    own COMMIT that follows finds no transaction open and sends nothing.
    """
    pending = _pending.get()
    if not pending:
        return
    events, pending[:] = list(pending), []
    spooled = [item.fields for item in events if item.spool]
    if spooled and audit_spool.push(spooled):
        events = [item for item in events if not item.spool]
    commit = commit and len(connection.atomic_blocks) == 1 and not connection.needs_rollback
    for n, item in enumerate(events, start=1):
        event = _append_postgresql(item.fields, content_hash(item.fields), commit=commit and n == len(events))
        transaction.on_commit(lambda event=event: _log(event), robust=True)


def append_batch(items: list[tuple[dict[str, Any], str | None]]) -> list[AuditEvent]:
    """Chain several events of the current tenant at once, in the current transaction: lock
    the chain head, one multi-row INSERT, move the head (the spool's shipper; SQLite)."""
    head, _ = ChainHead.objects.select_for_update().get_or_create(tenant_id=items[0][0]["tenant_id"])
    seq, prev_hash = head.seq, head.last_hash
    events = []
    for fields, spool_id in items:
        seq += 1
        hash_ = link_hash(prev_hash, content_hash(fields))
        events.append(AuditEvent(seq=seq, prev_hash=prev_hash, hash=hash_, spool_id=spool_id, **fields))
        prev_hash = hash_
    AuditEvent.objects.bulk_create(events)
    ChainHead.objects.filter(pk=head.pk).update(seq=seq, prev_hash=events[-1].prev_hash, last_hash=prev_hash)
    transaction.on_commit(lambda: [_log(event) for event in events], robust=True)
    return events


def _savepoint_rolled_back(savepoint_id: str) -> None:
    """tenants.db listener: forget events recorded inside a savepoint that was rolled back."""
    pending = _pending.get()
    if pending:
        pending[:] = [item for item in pending if savepoint_id not in item.savepoints]


_APPEND_SQL = """
WITH head AS (
    INSERT INTO audit_chainhead AS h (tenant_id, seq, prev_hash, last_hash)
    VALUES (%(tenant_id)s, 1, %(genesis)s,
            encode(sha256(convert_to(%(genesis)s || %(content)s, 'UTF8')), 'hex'))
    ON CONFLICT (tenant_id) DO UPDATE
       SET seq = h.seq + 1, prev_hash = h.last_hash,
           last_hash = encode(sha256(convert_to(h.last_hash || %(content)s, 'UTF8')), 'hex')
    RETURNING seq, prev_hash, last_hash
)
INSERT INTO audit_auditevent (
    tenant_id, seq, occurred, action, outcome, actor_type, actor_id, actor, subject,
    target_type, target_id, ip, user_agent, request_id, device, risk_score, risk_reasons,
    details, prev_hash, hash)
SELECT %(tenant_id)s, head.seq, %(occurred)s, %(action)s, %(outcome)s, %(actor_type)s,
       %(actor_id)s, %(actor)s::jsonb, %(subject)s, %(target_type)s, %(target_id)s, %(ip)s,
       %(user_agent)s, %(request_id)s, %(device)s, %(risk_score)s, %(risk_reasons)s::jsonb,
       %(details)s::jsonb, head.prev_hash, head.last_hash
FROM head
RETURNING id, seq, prev_hash, hash
"""


def _append_postgresql(fields: dict, content: str, *, commit: bool = False) -> AuditEvent:
    """One statement: advance the chain head (row-locked until commit) and insert the event."""
    params = {**fields, "genesis": GENESIS_HASH, "content": content}
    for name in ("actor", "risk_reasons", "details"):
        params[name] = json.dumps(fields[name])
    with connection.cursor() as cursor:
        # Django's psycopg cursor binds client-side and sends a simple query, which may hold
        # two statements; fetchone() reads the first one's RETURNING row.
        cursor.execute(_APPEND_SQL + ("; COMMIT" if commit else ""), params)
        pk, seq, prev_hash, hash_ = cursor.fetchone()
    return AuditEvent(id=pk, seq=seq, prev_hash=prev_hash, hash=hash_, **fields)


def as_json(event: AuditEvent) -> dict[str, Any]:
    """The event as a JSON-ready dict (log lines, exports)."""
    data = {name: getattr(event, name) for name in HASHED_FIELDS}
    data["occurred"] = _canonical_time(event.occurred)
    data.update(seq=event.seq, prev_hash=event.prev_hash, hash=event.hash)
    return data


def _log(event: AuditEvent) -> None:
    log.info(json.dumps(as_json(event), sort_keys=True, separators=(",", ":")))


# --- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    ok: bool
    checked: int
    first_seq: int | None = None
    last_seq: int | None = None
    broken_seq: int | None = None
    reason: str = ""


def _events(through_seq: int) -> Iterator[AuditEvent]:
    return AuditEvent.objects.filter(seq__lte=through_seq).order_by("seq").iterator(chunk_size=2000)


def verify_chain() -> Verification:
    """Walk the current tenant's chain; report the first event whose link does not hold.

    The head is read first and the walk stops at its position, so events appended while
    verifying (a live system) are left for the next run instead of looking like a break.
    """
    head = ChainHead.objects.first()
    through_seq = head.seq if head is not None else 0
    expected_prev: str | None = None
    expected_seq: int | None = None
    checked = 0
    first_seq = last_seq = None
    for event in _events(through_seq):
        if first_seq is None:
            first_seq = event.seq
            expected_prev, reason = _chain_start(event)
            if reason:
                return Verification(False, checked, first_seq, event.seq, event.seq, reason)
            expected_seq = event.seq
        if event.seq != expected_seq:
            return Verification(False, checked, first_seq, last_seq, event.seq,
                                f"sequence jumps from {expected_seq - 1} to {event.seq} (events deleted)")
        if event.prev_hash != expected_prev:
            return Verification(False, checked, first_seq, last_seq, event.seq,
                                "prev_hash does not match the previous event's hash")
        if link_hash(event.prev_hash, content_hash(_fields_of(event))) != event.hash:
            return Verification(False, checked, first_seq, last_seq, event.seq,
                                "content does not match its hash (the event was altered)")
        expected_prev, expected_seq = event.hash, event.seq + 1
        checked += 1
        last_seq = event.seq
    if head is not None and (head.seq != (last_seq or 0) or head.last_hash != (expected_prev or GENESIS_HASH)):
        return Verification(False, checked, first_seq, last_seq, (last_seq or 0) + 1,
                            f"the chain head is at {head.seq} but the last event is {last_seq} (events deleted)")
    return Verification(True, checked, first_seq, last_seq)


def _chain_start(event: AuditEvent) -> tuple[str, str]:
    """The prev_hash the first remaining event must carry: genesis, or a purge's anchor."""
    if event.seq == 1:
        return GENESIS_HASH, ""
    purge = (AuditEvent.objects.filter(action=Action.AUDIT_PURGED, details__through_seq=event.seq - 1)
             .order_by("-seq").first())
    if purge is None or purge.details.get("anchor_hash") != event.prev_hash:
        return "", f"the chain starts at {event.seq} with no purge record for the events before it"
    return event.prev_hash, ""


def _fields_of(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in HASHED_FIELDS}


# --- retention ---------------------------------------------------------------------------

MINIMUM_RETENTION = dt.timedelta(days=30)


def purge(before: dt.datetime, *, actor: Actor) -> int:
    """Delete the current tenant's oldest events, those before ``before`` (never any from the
    last 30 days), as a prefix of the chain: a purge event records the last purged link, so
    the chain stays verifiable from there."""
    before = min(before, timezone.now() - MINIMUM_RETENTION)
    with transaction.atomic():
        events = AuditEvent.objects.order_by("seq")
        first_kept = events.filter(occurred__gte=before).values_list("seq", flat=True).first()
        candidates = events.filter(seq__lt=first_kept) if first_kept is not None else events
        last = candidates.order_by("-seq").values("seq", "hash").first()
        if last is None:
            return 0
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT audit_purge_through(%s)", [last["seq"]])
                count = cursor.fetchone()[0]
        else:
            count = AuditEvent.objects.filter(seq__lte=last["seq"])._raw_delete(connection.alias)
        record(Action.AUDIT_PURGED, actor=actor,
               details={"through_seq": last["seq"], "anchor_hash": last["hash"], "count": count,
                        "before": before})
    return count
