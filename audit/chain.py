"""Each tenant's audit chain: canonical content, public and keyed links, appending, log lines.

For event n of a tenant:

    content_n = sha256(canonical JSON of the event's fields)        HASHED_FIELDS, sorted keys
    hash_n    = sha256(hash_{n-1} + content_n)                       hash_0 = 64 zeros
    mac_n     = HMAC-SHA256(K_tenant, "n:" + hash_n)                 K_tenant derived from the KEK

``hash`` is the public link: anyone can recompute it from an export, and a signed checkpoint
of (n, hash_n) vouches for every event up to n (audit.checkpoints). ``mac`` is the keyed
link: the database never holds K_tenant, so whoever can write the tables can rewrite events
and recompute the hashes, but not the macs, and ``verify_chain`` recomputes both.

Appending takes the tenant's chain head row lock (``SELECT ... FOR UPDATE``), computes the
links here (the key never travels to the database), and writes the events, the new head and,
every ``AUDIT_CHECKPOINT_INTERVAL`` events, a signed checkpoint in one more statement, which
inside a request also carries the COMMIT (decision "In a request, audit events are chained
as the transaction's last statement").
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction

from audit import checkpoints, outbox
from audit.models import GENESIS_HASH, AuditEvent, ChainHead, Checkpoint, WebhookDelivery
from audit.sql import INSERT_CHECKPOINT, INSERT_EVENTS, LOCK_HEAD, START_HEAD, UPDATE_HEAD
from core.conf import tessera_settings
from core.crypto import data_key

log = logging.getLogger("tessera.audit")

_CHAIN_KEY_INFO = b"tessera/audit-chain/v1"

# The fields the content hash covers, in order (everything but id, seq, the links, spool_id).
HASHED_FIELDS = (
    "tenant_id", "occurred", "action", "outcome", "actor_type", "actor_id", "actor", "subject",
    "target_type", "target_id", "ip", "user_agent", "request_id", "device", "risk_score",
    "risk_reasons", "details",
)
_JSON_FIELDS = ("actor", "risk_reasons", "details")

Item = tuple[dict[str, Any], "str | None"]  # (the event's fields, its spool entry id or None)


def canonical_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def content_hash(fields: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of an event's hashed fields (``occurred`` a datetime or
    its canonical text)."""
    canonical = {name: fields[name] for name in HASHED_FIELDS}
    if isinstance(canonical["occurred"], dt.datetime):
        canonical["occurred"] = canonical_time(canonical["occurred"])
    blob = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()


def link_hash(prev_hash: str, content: str) -> str:
    """The public link of an event to the one before it."""
    return hashlib.sha256((prev_hash + content).encode()).hexdigest()


@functools.lru_cache(maxsize=4096)
def _tenant_chain_key(base: bytes, tenant_id: int) -> bytes:
    return hmac.new(base, f"tenant:{tenant_id}".encode(), hashlib.sha256).digest()


def link_mac(tenant_id: int, seq: int, hash_: str) -> str:
    """The keyed link of event ``seq``: only a holder of the key-encryption key can make it."""
    key = _tenant_chain_key(data_key(_CHAIN_KEY_INFO), tenant_id)
    return hmac.new(key, f"{seq}:{hash_}".encode(), hashlib.sha256).hexdigest()


def fields_of(event: AuditEvent) -> dict[str, Any]:
    return {name: getattr(event, name) for name in HASHED_FIELDS}


def append(items: Sequence[Item], *, commit: bool = False, using: str = DEFAULT_DB_ALIAS) -> list[AuditEvent]:
    """Chain events of one tenant, in order, in the current transaction of ``using``.

    ``commit=True`` (PostgreSQL, the outermost transaction with nothing left to do): the
    last statement ends with COMMIT, so the head's row lock is released in the same round
    trip that wrote the events. Each event becomes a log line once the transaction commits.
    """
    connection = connections[using]
    tenant_id = items[0][0]["tenant_id"]
    seq, last_hash = _lock_head(connection, tenant_id, using)
    first_seq = seq + 1
    events = []
    for fields, spool_id in items:
        seq += 1
        hash_ = link_hash(last_hash, content_hash(fields))
        events.append(AuditEvent(seq=seq, prev_hash=last_hash, hash=hash_, mac=link_mac(tenant_id, seq, hash_),
                                 spool_id=spool_id, **fields))
        last_hash = hash_
    checkpoint = checkpoints.due(first_seq - 1, events[-1], tessera_settings.AUDIT_CHECKPOINT_INTERVAL)
    deliveries = outbox.deliveries_for(events, as_json, using=using)  # webhooks: [] without SQL if none
    if connection.vendor == "postgresql":
        _write_postgresql(connection, events, checkpoint, deliveries, commit=commit)
    else:
        AuditEvent.objects.using(using).bulk_create(events)
        ChainHead.objects.using(using).filter(tenant_id=tenant_id).update(
            seq=seq, prev_hash=events[-1].prev_hash, last_hash=last_hash)
        if checkpoint is not None:
            checkpoint.save(using=using)
        WebhookDelivery.objects.using(using).bulk_create(deliveries)
    transaction.on_commit(lambda: log_lines(events, checkpoint), using=using, robust=True)
    outbox.enqueue_on_commit(deliveries, using=using)
    return events


def _lock_head(connection, tenant_id: int, using: str) -> tuple[int, str]:
    """(seq, last_hash) of the tenant's chain head, row-locked until the transaction ends."""
    if connection.vendor != "postgresql":  # SQLite serialises writers; no row locks
        head, _ = ChainHead.objects.using(using).get_or_create(tenant_id=tenant_id)
        return head.seq, head.last_hash
    with connection.cursor() as cursor:
        cursor.execute(LOCK_HEAD, [tenant_id])
        row = cursor.fetchone()
        if row is None:  # the tenant's first event
            cursor.execute(START_HEAD, [tenant_id, GENESIS_HASH, GENESIS_HASH])
            cursor.execute(LOCK_HEAD, [tenant_id])
            row = cursor.fetchone()
    return int(row[0]), row[1]


def _write_postgresql(connection, events: list[AuditEvent], checkpoint: Checkpoint | None,
                      deliveries: list[WebhookDelivery], *, commit: bool) -> None:
    """One round trip: the events (multi-row INSERT), the new head, the checkpoint, the
    webhook deliveries (audit.outbox), COMMIT."""
    columns = ("tenant_id", "seq", *HASHED_FIELDS[1:], "prev_hash", "hash", "mac", "spool_id")
    params: list[Any] = []
    for event in events:
        for name in columns:
            value = getattr(event, name)
            params.append(json.dumps(value) if name in _JSON_FIELDS else value)
    row = "(" + ", ".join("%s::jsonb" if c in _JSON_FIELDS else "%s" for c in columns) + ")"
    sql = INSERT_EVENTS.format(columns=", ".join(columns), rows=", ".join([row] * len(events)))
    last = events[-1]
    sql += "; " + UPDATE_HEAD
    params += [last.seq, last.prev_hash, last.hash, last.tenant_id]
    if checkpoint is not None:
        sql += "; " + INSERT_CHECKPOINT
        params += [checkpoint.tenant_id, checkpoint.seq, checkpoint.hash, checkpoint.jws, checkpoint.created]
    if deliveries:
        delivery_sql, delivery_params = outbox.insert_sql(deliveries)
        sql += "; " + delivery_sql
        params += delivery_params
    if commit:
        sql += "; COMMIT"
    with connection.cursor() as cursor:
        # Django's psycopg cursor binds client-side and sends one simple query, which may hold
        # several statements; fetchall() reads the first one's RETURNING rows.
        cursor.execute(sql, params)
        for event, (pk,) in zip(events, cursor.fetchall(), strict=True):
            event.pk = pk


def as_json(event: AuditEvent) -> dict[str, Any]:
    """The event as one JSON-ready line of an export or the log (``"type": "event"``)."""
    data: dict[str, Any] = {"type": "event", **fields_of(event)}
    data["occurred"] = canonical_time(event.occurred)
    data.update(seq=event.seq, prev_hash=event.prev_hash, hash=event.hash, mac=event.mac)
    return data


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def log_lines(events: Sequence[AuditEvent], checkpoint: Checkpoint | None = None) -> None:
    """Each committed event (and checkpoint) as one JSON line on the ``tessera.audit`` logger:
    the copy of the trail that leaves the database."""
    for event in events:
        log.info(dumps(as_json(event)))
    if checkpoint is not None:
        log.info(dumps(checkpoints.as_json(checkpoint)))
