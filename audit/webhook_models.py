"""Webhook subscriptions and their deliveries (the outbox): models of the audit app,
imported by audit.models so that Django finds them."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import TenantOwned


class WebhookSubscription(TenantOwned):
    """An HTTPS endpoint of the tenant's that receives its audit events, signed (audit.webhooks).

    ``actions`` lists action names, prefixes ending in ``.*`` (``token.*``) or ``*``. The
    signing secret is sealed under the key-encryption key, bound to the tenant and the row
    (``audit.webhooks.secret_aad``): HMAC needs the secret itself, so a digest would not do.
    """

    url = models.URLField(max_length=2000, help_text="https:// only; never a private or loopback address.")
    actions = models.JSONField(default=list, help_text='Action names, prefixes such as "token.*", or "*".')
    description = models.CharField(max_length=200, blank=True, default="")
    is_active = models.BooleanField(default=True)
    sealed_secret = models.BinaryField(editable=False, help_text="The signing secret, sealed (core.crypto).")
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        base_manager_name = "unscoped"
        ordering = ["tenant", "id"]

    def __str__(self) -> str:
        return f"webhook {self.pk} -> {self.url}"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    DELIVERED = "delivered", _("Delivered")
    FAILED = "failed", _("Failed")


class WebhookDelivery(TenantOwned):
    """One audit event on its way to one subscription: written with the event (the outbox),
    sent and retried by Celery (audit.webhook_delivery), each attempt recorded here.

    The id is a UUID made by the writer, so the event's transaction inserts the row without
    reading anything back, and receivers see it as ``Tessera-Webhook-Id`` (their idempotency key).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries")
    seq = models.BigIntegerField(help_text="The event's position in the tenant's chain.")
    action = models.CharField(max_length=64)
    payload = models.JSONField(help_text="The event as the export shows it (sanitised: never a secret).")
    status = models.CharField(max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(help_text="When a pending delivery is (next) due.")
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=200, blank=True, default="")
    created = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        base_manager_name = "unscoped"
        ordering = ["tenant", "-created"]
        indexes = [
            # The sweep (audit.webhook_delivery.sweep) reads due pending deliveries only.
            models.Index(fields=["tenant", "next_attempt_at"], name="audit_webhook_due",
                         condition=models.Q(status="pending")),
            models.Index(fields=["subscription", "created"], name="audit_webhook_by_subscription"),
        ]

    def __str__(self) -> str:
        return f"delivery {self.pk} of #{self.seq} {self.action}: {self.status}"
