"""The audit app's own audit events (webhook subscriptions): one typed function per event.

Each calls ``audit.recording.record`` in the caller's transaction. None carries the
subscription's signing secret: only the endpoint, the actions and what changed. Delivery
attempts are not audit events (they are recorded on their delivery rows): a subscription to
``*`` would otherwise feed on its own deliveries.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

from audit.models import Action, WebhookDelivery, WebhookSubscription
from audit.recording import record
from core.actors import Actor


def endpoint(url: str) -> dict[str, str]:
    """A webhook URL as events show it: its origin, and a digest that tells one URL from another.
    Many receivers (chat and SIEM webhooks) carry their credential in the path or the query,
    and events travel on: to exports, and to every subscriber of ``webhook.*``."""
    parts = urlsplit(url)
    return {"endpoint": f"{parts.scheme}://{parts.netloc}/...",
            "url_sha256": hashlib.sha256(url.encode()).hexdigest()[:16]}


def subscription_summary(subscription: WebhookSubscription) -> dict[str, Any]:
    """What an event says about a subscription (never its secret, nor its URL's path or query)."""
    return {**endpoint(subscription.url), "actions": list(subscription.actions),
            "description": subscription.description, "is_active": subscription.is_active}


def _target(subscription: WebhookSubscription) -> tuple[str, Any]:
    return ("webhook", subscription.pk)


def webhook_created(subscription: WebhookSubscription, *, actor: Actor) -> None:
    record(Action.WEBHOOK_CREATED, actor=actor, target=_target(subscription),
           details=subscription_summary(subscription))


def webhook_updated(subscription: WebhookSubscription, *, actor: Actor, changed: list[str]) -> None:
    record(Action.WEBHOOK_UPDATED, actor=actor, target=_target(subscription),
           details={**subscription_summary(subscription), "changed": sorted(changed)})


def webhook_deleted(subscription: WebhookSubscription, *, actor: Actor, pending: int) -> None:
    """Deleted with its deliveries; ``pending``: how many were still to be sent."""
    record(Action.WEBHOOK_DELETED, actor=actor, target=_target(subscription),
           details={**subscription_summary(subscription), "pending_deliveries_dropped": pending})


def webhook_secret_rotated(subscription: WebhookSubscription, *, actor: Actor) -> None:
    record(Action.WEBHOOK_SECRET_ROTATED, actor=actor, target=_target(subscription),
           details={"change": "new signing secret issued", **endpoint(subscription.url)})


def webhook_redelivered(delivery: WebhookDelivery, *, actor: Actor) -> None:
    record(Action.WEBHOOK_REDELIVERED, actor=actor, target=_target(delivery.subscription),
           details={"delivery": str(delivery.pk), "seq": delivery.seq, "action": delivery.action})
