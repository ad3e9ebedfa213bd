"""Retention: purging a tenant's oldest audit events, as a prefix of its chain; and the
scheduled job that signs a checkpoint of each chain and applies each tenant's retention.

Only the table owner (or a role it grants EXECUTE on ``audit_purge_through``) may purge:
the application role has neither DELETE on the events nor EXECUTE on the function
(tenants.roles), so a compromised web process cannot shorten the trail.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from audit import chain, checkpoints
from audit.models import Action, AuditEvent
from audit.recording import event_fields
from core.actors import Actor, system_actor
from core.conf import tessera_settings
from tenants.models import Tenant
from tenants.platform import platform_access
from tenants.services import policy_for

log = logging.getLogger("tessera.jobs")

MINIMUM_RETENTION = dt.timedelta(days=30)


def purge(before: dt.datetime, *, actor: Actor, using: str = DEFAULT_DB_ALIAS) -> int:
    """Delete the current tenant's oldest events, those before ``before`` (never any from the
    last 30 days), as a prefix of the chain, through the database alias ``using`` (a role
    allowed to purge). A purge event records the last purged link, so the chain stays
    verifiable from there."""
    before = min(before, timezone.now() - MINIMUM_RETENTION)
    connection = connections[using]
    with transaction.atomic(using=using):
        events = AuditEvent.objects.using(using).order_by("seq")
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
            count = AuditEvent.objects.using(using).filter(seq__lte=last["seq"])._raw_delete(using)
        if not count:
            return 0
        # Where the chain now starts, as the database left it: the function keeps its own
        # 30-day floor (its clock, not this process's), so it may have kept more.
        first = events.values("seq", "prev_hash").first()
        through, anchor = (first["seq"] - 1, first["prev_hash"]) if first else (last["seq"], last["hash"])
        details = {"through_seq": through, "anchor_hash": anchor, "count": count, "before": before}
        chain.append([(event_fields(Action.AUDIT_PURGED, actor=actor, details=details), None)], using=using)
    return count


@dataclass
class Maintenance:
    tenant: str
    checkpoint_seq: int | None
    purged: int


def maintain_tenant(tenant_id: int, *, actor: Actor | None = None) -> Maintenance | None:
    """The scheduled audit job for one tenant (deactivated ones too), by id, through the
    platform door: a signed checkpoint of its chain head, then the purge of its events past
    the policy's ``audit_retention_days`` through TESSERA_AUDIT_PURGE_DATABASE (the database
    alias of a role allowed to purge; without one, nothing is purged and a warning says so).
    None when there is no such tenant."""
    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return None
    actor = actor or system_actor("audit job")
    with platform_access(tenant, reason="audit checkpoint and retention", actor=actor):
        checkpoint = checkpoints.write()
        days = policy_for(tenant).audit_retention_days
        alias = tessera_settings.AUDIT_PURGE_DATABASE
        purged = 0
        if days and alias:
            purged = purge(timezone.now() - dt.timedelta(days=days), actor=actor, using=alias)
        elif days:
            log.warning("audit retention of %s not applied: no TESSERA_AUDIT_PURGE_DATABASE (a role allowed "
                        "to purge) is configured", tenant.slug)
    if purged:
        log.info("audit retention %s: %d events older than %d days purged", tenant.slug, purged, days)
    return Maintenance(tenant.slug, checkpoint.seq if checkpoint else None, purged)
