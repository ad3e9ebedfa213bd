"""Webhook subscriptions: a tenant's HTTPS endpoints that receive its audit events, signed.

The services the admin API and the Django admin call (all for the tenant in context, each
change an audit event in the caller's transaction):

    subscription, secret = create_subscription(url, ["token.*", "auth.login.failed"], "SIEM", actor=actor)
    update_subscription(subscription, actor=actor, actions=["*"], is_active=False)
    secret = rotate_subscription_secret(subscription, actor=actor)
    delete_subscription(subscription, actor=actor)
    list_deliveries(subscription)              # newest first
    redeliver(delivery, actor=actor)           # send it again (after a fix on the receiver's side)

The secret (256 bits) is returned by create and rotate only, and stored sealed under the
key-encryption key (re-sealed by ``manage.py rotate_kek``). Deliveries are written with the
events they carry (audit.outbox) and sent by Celery (audit.webhook_delivery, audit.tasks).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from audit import events, outbox
from audit.models import Action, DeliveryStatus, WebhookDelivery, WebhookSubscription
from audit.webhook_delivery import SECRET_PURPOSE, secret_aad, validate_url
from core.actors import Actor
from core.crypto import seal
from tenants.context import require_tenant

MAX_PATTERNS = 100


def validate_actions(actions: Iterable[Any]) -> list[str]:
    """The action patterns, deduplicated in order: ``*``, an action name, or a prefix of
    action names followed by ``.*`` (``token.*``, ``auth.login.*``); ValidationError otherwise."""
    if isinstance(actions, str) or not isinstance(actions, Iterable):
        raise ValidationError("actions must be a list of action names or patterns.")
    known = set(Action.values)
    patterns: list[str] = []
    for pattern in actions:
        if not isinstance(pattern, str):
            raise ValidationError("actions must be a list of action names or patterns.")
        pattern = pattern.strip()
        if pattern == "*" or pattern in known:
            pass
        elif pattern.endswith(".*") and any(action.startswith(pattern[:-1]) for action in known):
            pass
        else:
            raise ValidationError(f"Unknown action or pattern {pattern!r}: use an action name, a prefix such as "
                                  "\"token.*\", or \"*\".")
        if pattern not in patterns:
            patterns.append(pattern)
    if not patterns:
        raise ValidationError("A webhook subscribes to at least one action (\"*\" for all).")
    if len(patterns) > MAX_PATTERNS:
        raise ValidationError(f"At most {MAX_PATTERNS} action patterns.")
    return patterns


def _clean_description(description: str) -> str:
    description = (description or "").strip()
    if len(description) > 200:
        raise ValidationError("The description is at most 200 characters.")
    return description


def _new_secret(subscription: WebhookSubscription) -> str:
    """A fresh 256-bit secret, sealed onto the (saved) subscription; the secret itself."""
    secret = secrets.token_urlsafe(32)
    subscription.sealed_secret = seal(secret.encode(), purpose=SECRET_PURPOSE, associated_data=secret_aad(subscription))
    return secret


@transaction.atomic
def create_subscription(url: str, actions: Iterable[str], description: str = "", *, actor: Actor,
                        is_active: bool = True) -> tuple[WebhookSubscription, str]:
    """Subscribe ``url`` to the current tenant's events matching ``actions``; the subscription
    and its signing secret, which is shown this once."""
    tenant = require_tenant()
    subscription = WebhookSubscription(tenant=tenant, url=validate_url(url), actions=validate_actions(actions),
                                       description=_clean_description(description), is_active=is_active,
                                       sealed_secret=b"")
    subscription.save()  # the row id is part of the secret's associated data
    secret = _new_secret(subscription)
    subscription.save(update_fields=["sealed_secret"])
    outbox.forget(tenant.pk)
    events.webhook_created(subscription, actor=actor)
    return subscription, secret


@transaction.atomic
def update_subscription(subscription: WebhookSubscription, *, actor: Actor, url: str | None = None,
                        actions: Iterable[str] | None = None, description: str | None = None,
                        is_active: bool | None = None) -> WebhookSubscription:
    """Change what is given (None: unchanged). Disabling it fails its pending deliveries:
    nothing is sent to an endpoint after it was switched off."""
    changes: dict[str, Any] = {}
    if url is not None:
        changes["url"] = validate_url(url)
    if actions is not None:
        changes["actions"] = validate_actions(actions)
    if description is not None:
        changes["description"] = _clean_description(description)
    if is_active is not None:
        changes["is_active"] = bool(is_active)
    changed = [name for name, value in changes.items() if getattr(subscription, name) != value]
    if not changed:
        return subscription
    for name in changed:
        setattr(subscription, name, changes[name])
    subscription.save(update_fields=[*changed, "updated"])
    if not subscription.is_active:
        subscription.deliveries.filter(status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.FAILED, last_error="the subscription was disabled")
    outbox.forget(subscription.tenant_id)
    events.webhook_updated(subscription, actor=actor, changed=changed)
    return subscription


@transaction.atomic
def delete_subscription(subscription: WebhookSubscription, *, actor: Actor) -> None:
    """Delete the subscription and its deliveries (pending ones are never sent)."""
    pending = subscription.deliveries.filter(status=DeliveryStatus.PENDING).count()
    events.webhook_deleted(subscription, actor=actor, pending=pending)
    tenant_id = subscription.tenant_id
    subscription.delete()
    outbox.forget(tenant_id)


@transaction.atomic
def rotate_subscription_secret(subscription: WebhookSubscription, *, actor: Actor) -> str:
    """Replace the signing secret; the new one, shown this once. Deliveries sent from now on,
    retries included, are signed with it."""
    subscription = WebhookSubscription.objects.select_for_update().get(pk=subscription.pk)
    secret = _new_secret(subscription)
    subscription.save(update_fields=["sealed_secret", "updated"])
    events.webhook_secret_rotated(subscription, actor=actor)
    return secret


def list_subscriptions() -> QuerySet[WebhookSubscription]:
    return WebhookSubscription.objects.order_by("id")


def list_deliveries(subscription: WebhookSubscription, *, status: str | None = None) -> QuerySet[WebhookDelivery]:
    """The subscription's deliveries, newest first (``status``: only pending, delivered or failed)."""
    deliveries = WebhookDelivery.objects.filter(subscription=subscription).order_by("-created", "-seq")
    return deliveries.filter(status=status) if status else deliveries


@transaction.atomic
def redeliver(delivery: WebhookDelivery, *, actor: Actor) -> WebhookDelivery:
    """Send a delivery again, now, with a fresh round of retries (its attempts start over;
    the receiver sees the same ``Tessera-Webhook-Id``)."""
    if not delivery.subscription.is_active:
        raise ValidationError("The subscription is disabled: enable it before redelivering.")
    now = timezone.now()
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.PENDING, attempts=0,
                                                          next_attempt_at=now, delivered_at=None)
    delivery.refresh_from_db()
    events.webhook_redelivered(delivery, actor=actor)
    outbox.enqueue_on_commit([delivery])
    return delivery
