"""Recording audit events: ``record()`` from a service or an app's events module.

``record()`` writes an event in the caller's transaction (so it commits or rolls back with
the change it records) and links it into the tenant's chain (audit.chain). Inside a tenant
request it is chained as the transaction's last statement (``chained_at_commit``); with the
audit spool configured, a stateless grant's event goes to the spool instead (audit.spool).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from audit import chain, context, risk
from audit import metrics as audit_metrics
from audit import spool as audit_spool
from audit.models import Action, AuditEvent, Outcome
from audit.sanitise import clean_text, sanitise
from core.actors import Actor
from tenants.context import get_current_tenant, require_tenant

_ACTIONS = frozenset(Action.values)  # Action.values builds a new list on every access


def record(
    action: str,
    *,
    actor: Actor,
    outcome: str = Outcome.SUCCESS,
    target: tuple[str, Any] | None = None,
    subject: str = "",
    details: dict[str, Any] | None = None,
    assess_risk: bool = False,
    spool: bool = False,
) -> AuditEvent | None:
    """Append an event to the current tenant's chain, in the current transaction.

    Returns the stored event, or None when it is chained later: at the request's commit
    (``chained_at_commit``), or, with ``spool=True`` and a spool configured, by a shipper
    (audit.spool: for events of requests that write nothing else, stateless grants).
    """
    tenant = require_tenant()
    fields = event_fields(action, actor=actor, outcome=outcome, target=target, subject=subject,
                          details=details, assess_risk=assess_risk)
    # issue 15: counted as recorded (an event rolled back with a failed request is counted too:
    # the trail is the record, the counters are rates).
    audit_metrics.count_event(action, outcome, fields["details"])
    spool = spool and audit_spool.enabled()
    pending = _pending.get()
    if (pending is not None and connection.vendor == "postgresql" and connection.in_atomic_block
            and _pending_tenant.get() == tenant.pk):
        # Inside a tenant request: chained at flush(), just before COMMIT, or spooled there,
        # once the response is known to succeed. (Another tenant's event, from a platform
        # door opened inside the request, is written at once, under its own tenant: flush()
        # runs as the request's tenant, whose row-level security would refuse it.)
        pending.append(_Pending(fields, tuple(connection.savepoint_ids), spool))
        return None
    if spool and audit_spool.push([fields]):
        return None
    with transaction.atomic(savepoint=False):
        return chain.append([(fields, None)])[0]


@dataclass
class _Pending:
    fields: dict[str, Any]
    savepoints: tuple[str, ...]  # Django's savepoint ids open when it was recorded
    spool: bool = False


_pending: ContextVar[list[_Pending] | None] = ContextVar("tessera_audit_pending", default=None)
# The tenant whose events chained_at_commit() defers: the one in context when it began (the
# request's); None: none are deferred.
_pending_tenant: ContextVar[int | None] = ContextVar("tessera_audit_pending_tenant", default=None)


@contextlib.contextmanager
def chained_at_commit() -> Iterator[None]:
    """Defer chaining the events recorded in this block's transaction to ``flush()``.

    The tenant's chain head is row-locked from the moment an event is chained until COMMIT,
    so every event of the tenant waits for it. Recorded early, an event would hold the lock
    through the rest of the request; chained by ``flush()`` as the transaction's last
    statements, it holds it for two round trips and the commit. The event row is still
    written in the same transaction as the change; savepoint rollbacks drop it (tenants.db).
    """
    tenant = get_current_tenant()
    token, tenant_token = _pending.set([]), _pending_tenant.set(tenant.pk if tenant is not None else None)
    try:
        yield
    finally:
        _pending_tenant.reset(tenant_token)
        _pending.reset(token)


def flush(*, commit: bool = False) -> None:
    """Chain and insert the events recorded since ``chained_at_commit()`` began (in order).

    ``commit=True`` (the request's outermost transaction, nothing left to do): the last
    statement carries the COMMIT, so the chain head's lock is released in the round trip
    that wrote the events, never held while a worker process waits for the CPU. Django's
    own COMMIT that follows finds no transaction open and sends nothing.
    """
    pending = _pending.get()
    if not pending:
        return
    events, pending[:] = list(pending), []
    spooled = [item.fields for item in events if item.spool]
    if spooled and audit_spool.push(spooled):
        events = [item for item in events if not item.spool]
    if not events:
        return
    commit = commit and len(connection.atomic_blocks) == 1 and not connection.needs_rollback
    chain.append([(item.fields, None) for item in events], commit=commit)


def event_fields(
    action: str,
    *,
    actor: Actor,
    outcome: str = Outcome.SUCCESS,
    target: tuple[str, Any] | None = None,
    subject: str = "",
    details: dict[str, Any] | None = None,
    assess_risk: bool = False,
) -> dict[str, Any]:
    """The stored fields of a new event of the current tenant: sanitised, NUL-free, cut to
    their columns, with the request's metadata and (for sign-ins) the risk score."""
    if action not in _ACTIONS:
        raise ValueError(f"Unknown audit action {action!r}: add it to audit.models.Action.")
    tenant = require_tenant()
    info = context.current()
    subject = clean_text(subject.lower(), 255)
    score, reasons = (risk.assess(tenant.pk, subject, info.ip, info.device)
                      if assess_risk and subject else (0, []))
    return {
        "tenant_id": tenant.pk,
        "occurred": timezone.now(),
        "action": str(action),
        "outcome": str(outcome),
        "actor_type": str(actor.type),
        "actor_id": clean_text(actor.id, 255),
        "actor": sanitise(actor.snapshot),
        "subject": subject,
        "target_type": clean_text(target[0], 32) if target else "",
        "target_id": clean_text(str(target[1]), 255) if target else "",
        "ip": clean_text(info.ip, 45),
        "user_agent": clean_text(info.user_agent, 512),
        "request_id": clean_text(info.request_id, 64),
        "device": clean_text(info.device, 64),
        "risk_score": score,
        "risk_reasons": reasons,
        "details": sanitise(details or {}),
    }


def savepoint_rolled_back(savepoint_id: str) -> None:
    """tenants.db listener: forget events recorded inside a savepoint that was rolled back."""
    pending = _pending.get()
    if pending:
        pending[:] = [item for item in pending if savepoint_id not in item.savepoints]
