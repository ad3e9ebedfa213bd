"""The audit spool: a durable, batched path into the audit trail for stateless grants.

A client-credentials grant with a JWT access token writes nothing to the database: the token
is self-contained and its client comes from the lookup cache. Auditing it synchronously would
make the grant open, write and commit a transaction of its own (decision "Every token issue
is audited synchronously, in the token's transaction, JWTs too"), which bounds it
by the commit. With ``TESSERA_AUDIT_SPOOL_URL`` set, such events go to a Redis stream instead,
before the token is returned; ``manage.py ship_audit`` (one or more long-running shippers)
(audit.shipper) moves them into each tenant's hash chain, many per transaction.

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
import time
from typing import Any

from django.core.checks import CheckMessage, Error, Warning

from core.conf import tessera_settings
from core.metrics import count_fallback

log = logging.getLogger("tessera.audit.spool")

STREAM = "tessera:audit"
GROUP = "shippers"
CLAIM_IDLE_MS = 60_000  # an unacknowledged entry older than this is taken over by any shipper

_clients: dict[tuple[str, float], Any] = {}


def enabled() -> bool:
    return bool(tessera_settings.AUDIT_SPOOL_URL)


def client(timeout: float = 1.0):
    """A client per URL and timeout. Grants use the short one: they wait at most this long
    before writing the event themselves. The shipper's blocking reads need a longer one."""
    key = (tessera_settings.AUDIT_SPOOL_URL, timeout)
    client = _clients.get(key)
    if client is None:
        import redis

        client = _clients[key] = redis.Redis.from_url(
            key[0], socket_timeout=timeout, socket_connect_timeout=1.0, decode_responses=True)
    return client


def encode(fields: dict[str, Any]) -> str:
    return json.dumps({**fields, "occurred": fields["occurred"].isoformat()}, separators=(",", ":"))


def decode(raw: str) -> dict[str, Any]:
    fields = json.loads(raw)
    fields["occurred"] = dt.datetime.fromisoformat(fields["occurred"])
    return fields


# After a failed push, grants write their events synchronously for this long before trying
# Redis again: a Redis that blackholes connections would otherwise cost every grant the
# connect timeout. The outage is logged when it starts and when it ends, not once per grant.
RETRY_INTERVAL = 2.0
_outage = {"since": 0.0, "retry_at": 0.0}


def push(events: list[dict[str, Any]]) -> bool:
    """Append events (``record()``'s field dicts) to the stream; False when Redis failed.

    Returns once Redis has the entries in its fsynced append-only file (``appendfsync
    always``). On False the caller writes them synchronously; an entry that did reach Redis
    before the error may then be chained twice, which the audit trail shows as two events
    with the same request id, never as a lost one.
    """
    import redis

    if _outage["since"] and time.monotonic() < _outage["retry_at"]:
        return False
    try:
        pipe = client().pipeline(transaction=False)
        for fields in events:
            pipe.xadd(STREAM, {"e": encode(fields)})
        pipe.execute()
    except redis.RedisError as exc:
        now = time.monotonic()
        if not _outage["since"]:
            _outage["since"] = now
            log.warning("audit spool unavailable (%s); recording synchronously until it answers again",
                        type(exc).__name__)
            count_fallback("audit_spool")
        _outage["retry_at"] = now + RETRY_INTERVAL
        return False
    if _outage["since"]:
        log.warning("audit spool reachable again after %.1f s", time.monotonic() - _outage["since"])
        _outage["since"] = _outage["retry_at"] = 0.0
    return True


def reset_outage() -> None:
    """Forget a remembered outage (tests: each starts with Redis tried at once)."""
    _outage["since"] = _outage["retry_at"] = 0.0


def backlog() -> int:
    """Entries waiting in the stream (read or not)."""
    return int(client().xlen(STREAM))


def check_durability(app_configs=None, **kwargs) -> list[CheckMessage]:
    """Deploy check: the spool's Redis must fsync its append-only file before replying."""
    if not enabled():
        return []
    import redis

    try:
        config = client().config_get("append*")
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
