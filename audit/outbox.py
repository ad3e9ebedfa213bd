"""The webhook outbox: the deliveries of a tenant's events, written in the transaction that
chains them (audit.chain.append), sent once it commits (audit.webhook_delivery).

Every token grant chains an event, so the question "does this tenant subscribe to this
action?" is answered from a per-process cache (core.lookup_cache: a tenant without
subscriptions costs a dict lookup and no SQL). A subscription created, changed or deleted in
this process evicts its tenant's entry at once; other processes see it within
``LOOKUP_CACHE_SECONDS``, so an event chained in that window may miss a new subscription (or
be written for one just disabled: the delivery then fails without being sent).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, transaction
from django.utils import timezone

from audit.models import AuditEvent, DeliveryStatus, WebhookDelivery, WebhookSubscription
from audit.sql import DELIVERY_COLUMNS, INSERT_DELIVERIES
from core.lookup_cache import LookupCache

log = logging.getLogger("tessera.webhooks")

# tenant id -> the action patterns of its active subscriptions (an empty tuple: none).
subscribed_patterns = LookupCache(max_entries=8192)


def action_matches(pattern: str, action: str) -> bool:
    """``*`` matches every action, ``token.*`` every action under ``token.``, else equality."""
    if pattern == "*":
        return True
    if pattern.endswith(".*"):
        return action.startswith(pattern[:-1])
    return pattern == action


def _active(tenant_id: int, using: str):
    return WebhookSubscription.unscoped.using(using).filter(tenant_id=tenant_id, is_active=True)


def _patterns(tenant_id: int, using: str) -> tuple[str, ...]:
    def load() -> tuple[str, ...]:
        rows = _active(tenant_id, using).values_list("actions", flat=True)
        return tuple(sorted({pattern for actions in rows for pattern in actions}))

    return subscribed_patterns.get_or_load(tenant_id, load)


def forget(tenant_id: int) -> None:
    """Evict the tenant's cached patterns now and again once the change commits (a reader in
    between could cache what is about to change)."""
    subscribed_patterns.evict(tenant_id)
    transaction.on_commit(lambda: subscribed_patterns.evict(tenant_id), robust=True)


def deliveries_for(events: Sequence[AuditEvent], payload: Callable[[AuditEvent], dict[str, Any]], *,
                   using: str = DEFAULT_DB_ALIAS) -> list[WebhookDelivery]:
    """Unsaved deliveries of ``events`` (one tenant's, just linked) to every active subscription
    whose actions match; an empty list, without SQL, when the cache says none can match."""
    tenant_id = events[0].tenant_id
    patterns = _patterns(tenant_id, using)
    if not patterns or not any(action_matches(p, e.action) for e in events for p in patterns):
        return []
    subscriptions = list(_active(tenant_id, using).only("id", "actions"))
    now = timezone.now()
    return [
        WebhookDelivery(id=uuid.uuid4(), tenant_id=tenant_id, subscription_id=subscription.pk, seq=event.seq,
                        action=event.action, payload=payload(event), status=DeliveryStatus.PENDING, attempts=0,
                        next_attempt_at=now, created=now, last_error="")
        for event in events for subscription in subscriptions
        if any(action_matches(p, event.action) for p in subscription.actions)
    ]


def insert_sql(deliveries: Sequence[WebhookDelivery]) -> tuple[str, list[Any]]:
    """One multi-row INSERT of ``deliveries`` for PostgreSQL (audit.chain adds it before COMMIT)."""
    params: list[Any] = []
    for delivery in deliveries:
        for column in DELIVERY_COLUMNS:
            value = getattr(delivery, column)
            params.append(json.dumps(value) if column == "payload" else value)
    row = "(" + ", ".join("%s::jsonb" if c == "payload" else "%s" for c in DELIVERY_COLUMNS) + ")"
    return INSERT_DELIVERIES.format(columns=", ".join(DELIVERY_COLUMNS),
                                    rows=", ".join([row] * len(deliveries))), params


def enqueue_on_commit(deliveries: Sequence[WebhookDelivery], *, using: str = DEFAULT_DB_ALIAS) -> None:
    """Enqueue the deliveries' tasks once the current transaction commits (never before: the
    worker must find the rows)."""
    if deliveries:
        transaction.on_commit(lambda: enqueue(deliveries), using=using, robust=True)


def enqueue(deliveries: Iterable[WebhookDelivery]) -> None:
    """One delivery task per delivery (after the commit; a task lost here, the broker down,
    is picked up by the sweep)."""
    from audit.tasks import deliver_webhook

    for delivery in deliveries:
        try:
            deliver_webhook.delay(delivery.tenant_id, str(delivery.pk))
        except Exception:  # noqa: BLE001 - the broker is down: the sweep sends them later
            log.warning("webhook deliveries not enqueued (the sweep will send them)", exc_info=True)
            return
