"""The audit spool: a durable, batched path into the audit trail for stateless grants.

A client-credentials grant with a JWT access token writes nothing to the database: the token
is self-contained and its client comes from the lookup cache. Auditing it synchronously would
make the grant open, write and commit a transaction of its own (decision 21), which bounds it
by the commit. With ``TESSERA_AUDIT_SPOOL_URL`` set, such events go to a Redis stream instead,
before the token is returned; ``manage.py ship_audit`` (one or more long-running shippers)
moves them into each tenant's hash chain, many per transaction.

Durability: the event is in Redis's append-only file, fsynced, before the response leaves
(Redis must run with ``appendonly yes`` and ``appendfsync always``: Redis then fsyncs once
per event-loop turn for all clients, a group commit; ``check --deploy`` verifies it). A
shipper acknowledges and deletes entries only after the PostgreSQL transaction holding them
committed; an entry read by a shipper that died is claimed by another after
``CLAIM_IDLE_MS``; the ``spool_id`` column (the stream entry id, unique per tenant) makes a
second delivery of an already-chained entry a no-op. When Redis is unreachable, the event is
written synchronously instead (``record()``), so a Redis outage slows grants, never loses
events. An event reaches the chain after the events recorded synchronously while it waited;
its ``occurred`` time is when it happened.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
from typing import Any, NamedTuple

from django.core.checks import CheckMessage, Error, Warning
from django.db import DatabaseError, transaction

from tenants.conf import tessera_settings

log = logging.getLogger("tessera.audit.spool")

STREAM = "tessera:audit"
GROUP = "shippers"
CLAIM_IDLE_MS = 60_000  # an unacknowledged entry older than this is taken over by any shipper

_clients: dict[tuple[str, float], Any] = {}


def enabled() -> bool:
    return bool(tessera_settings.AUDIT_SPOOL_URL)


def _client(timeout: float = 1.0):
    """A client per URL and timeout. Grants use the short one: they wait at most this long
    before writing the event themselves. The shipper's blocking reads need a longer one."""
    key = (tessera_settings.AUDIT_SPOOL_URL, timeout)
    client = _clients.get(key)
    if client is None:
        import redis

        client = _clients[key] = redis.Redis.from_url(
            key[0], socket_timeout=timeout, socket_connect_timeout=1.0, decode_responses=True)
    return client


def _encode(fields: dict[str, Any]) -> str:
    return json.dumps({**fields, "occurred": fields["occurred"].isoformat()}, separators=(",", ":"))


def _decode(raw: str) -> dict[str, Any]:
    fields = json.loads(raw)
    fields["occurred"] = dt.datetime.fromisoformat(fields["occurred"])
    return fields


def push(events: list[dict[str, Any]]) -> bool:
    """Append events (``record()``'s field dicts) to the stream; False when Redis failed.

    Returns once Redis has the entries in its fsynced append-only file (``appendfsync
    always``). On False the caller writes them synchronously; an entry that did reach Redis
    before the error may then be chained twice, which the audit trail shows as two events
    with the same request id, never as a lost one.
    """
    import redis

    try:
        pipe = _client().pipeline(transaction=False)
        for fields in events:
            pipe.xadd(STREAM, {"e": _encode(fields)})
        pipe.execute()
        return True
    except redis.RedisError as exc:
        log.warning("audit spool unavailable (%s); recording synchronously", type(exc).__name__)
        return False


def _ensure_group(client) -> None:
    import redis

    try:
        client.xgroup_create(STREAM, GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def default_consumer() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class Batch(NamedTuple):
    read: int  # entries taken from the stream
    chained: int  # events appended to a chain (a second delivery of a chained one is not)


def ship(*, count: int = 500, block_ms: int | None = None, consumer: str | None = None) -> Batch:
    """Move up to ``count`` spooled events into their tenants' chains.

    One transaction per tenant in the batch; entries are acknowledged and deleted from the
    stream only after it committed. ``block_ms``: wait that long for new entries when there
    are none (the shipper's loop).
    """
    from audit.models import AuditEvent
    from audit.services import append_batch
    from tenants.context import tenant_context
    from tenants.models import Tenant

    client = _client(timeout=30.0 + (block_ms or 0) / 1000)
    consumer = consumer or default_consumer()
    _ensure_group(client)
    # Entries a shipper read but never acknowledged (it died): take them over first.
    _cursor, entries, gone = client.xautoclaim(STREAM, GROUP, consumer, min_idle_time=CLAIM_IDLE_MS,
                                               start_id="0-0", count=count)
    done: list[str] = list(gone)
    if len(entries) < count:
        for _stream, items in client.xreadgroup(GROUP, consumer, {STREAM: ">"}, count=count - len(entries),
                                                block=None if entries else block_ms) or []:
            entries.extend(items)

    by_tenant: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for entry_id, data in entries:
        try:
            fields = _decode(data["e"])
        except (KeyError, TypeError, ValueError):
            # Never dropped: it stays pending, and the operator sees why.
            log.error("audit spool entry %s is malformed; left in the stream", entry_id)
            continue
        by_tenant.setdefault(fields["tenant_id"], []).append((entry_id, fields))

    chained = 0
    tenants = Tenant.objects.in_bulk(list(by_tenant))
    for tenant_id, items in by_tenant.items():
        tenant = tenants.get(tenant_id)
        if tenant is None:
            log.error("audit spool entries for unknown tenant %s; left in the stream", tenant_id)
            continue
        try:
            with tenant_context(tenant), transaction.atomic():
                ids = [entry_id for entry_id, _ in items]
                seen = set(AuditEvent.objects.filter(spool_id__in=ids).values_list("spool_id", flat=True))
                new = [(fields, entry_id) for entry_id, fields in items if entry_id not in seen]
                if new:
                    append_batch(new)
        except DatabaseError:
            # Left pending: retried after CLAIM_IDLE_MS (by this or another shipper).
            log.exception("audit spool: chaining %d event(s) of tenant %s failed", len(items), tenant_id)
            continue
        chained += len(new)
        done.extend(ids)
    if done:
        pipe = client.pipeline(transaction=False)
        pipe.xack(STREAM, GROUP, *done)
        pipe.xdel(STREAM, *done)
        pipe.execute()
    return Batch(len(entries), chained)


def backlog() -> int:
    """Entries waiting in the stream (read or not)."""
    return int(_client().xlen(STREAM))


def check_durability(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Deploy check: the spool's Redis must fsync its append-only file before replying."""
    if not enabled():
        return []
    import redis

    try:
        config = _client().config_get("append*")
    except redis.ResponseError:  # CONFIG disabled (managed Redis): cannot tell
        return [Warning("Cannot read the audit spool's Redis configuration (CONFIG is disabled).",
                        hint="Make sure it runs with appendonly yes and appendfsync always.",
                        id="tessera.W002")]
    except redis.RedisError as exc:
        return [Error(f"The audit spool's Redis is unreachable: {type(exc).__name__}.",
                      hint="TESSERA_AUDIT_SPOOL_URL must name a running Redis.", id="tessera.E003")]
    if config.get("appendonly") != "yes" or config.get("appendfsync") != "always":
        return [Error(
            "The audit spool's Redis does not fsync every write "
            f"(appendonly {config.get('appendonly')}, appendfsync {config.get('appendfsync')}): "
            "audit events of stateless grants could be lost in a crash.",
            hint="Run it with appendonly yes and appendfsync always, or unset TESSERA_AUDIT_SPOOL_URL.",
            id="tessera.E002")]
    return []
