"""The audit shipper: moves spooled events (audit.spool) into their tenants' hash chains.

``manage.py ship_audit`` runs ``ship()`` in a loop. One transaction per tenant in a batch;
entries are acknowledged and deleted from the stream only after it committed; entries a
shipper read but never acknowledged (it died) are taken over by another after
``spool.CLAIM_IDLE_MS``; the ``spool_id`` column makes a second delivery a no-op.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import Any, NamedTuple

from django.db import DatabaseError, transaction

from audit import chain, spool
from audit.models import AuditEvent
from tenants.context import tenant_context
from tenants.models import Tenant

log = logging.getLogger("tessera.audit.spool")


def _ensure_group(client) -> None:
    import redis

    try:
        client.xgroup_create(spool.STREAM, spool.GROUP, id="0", mkstream=True)
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
    client = spool.client(timeout=30.0 + (block_ms or 0) / 1000)
    consumer = consumer or default_consumer()
    _ensure_group(client)
    # Entries a shipper read but never acknowledged (it died): take them over first.
    _cursor, entries, gone = client.xautoclaim(spool.STREAM, spool.GROUP, consumer,
                                               min_idle_time=spool.CLAIM_IDLE_MS, start_id="0-0", count=count)
    done: list[str] = list(gone)
    if len(entries) < count:
        for _stream, items in client.xreadgroup(spool.GROUP, consumer, {spool.STREAM: ">"},
                                                count=count - len(entries),
                                                block=None if entries else block_ms) or []:
            entries.extend(items)

    by_tenant: dict[int, list[tuple[str, dict[str, Any]]]] = {}
    for entry_id, data in entries:
        try:
            fields = spool.decode(data["e"])
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
                    chain.append(new)
        except DatabaseError:
            # Left pending: retried after spool.CLAIM_IDLE_MS (by this or another shipper).
            log.exception("audit spool: chaining %d event(s) of tenant %s failed", len(items), tenant_id)
            continue
        chained += len(new)
        done.extend(ids)
    if done:
        pipe = client.pipeline(transaction=False)
        pipe.xack(spool.STREAM, spool.GROUP, *done)
        pipe.xdel(spool.STREAM, *done)
        pipe.execute()
    return Batch(len(entries), chained)


