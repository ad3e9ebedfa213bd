"""Webhooks for audit events, seen from a receiver: a local HTTPS server gets signed
deliveries of the events its tenant subscribed to, a retry after it answered 500, and never
another tenant's events; what a delivery carries is the export's sanitised event."""

from __future__ import annotations

import base64
import json
import time

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from audit import webhook_delivery, webhooks
from audit.models import Action, AuditEvent, DeliveryStatus, WebhookDelivery, WebhookSubscription
from audit.recording import record
from audit.tasks import deliver_webhook, sweep_webhooks
from core.actors import system_actor
from tenants.context import tenant_context

pytestmark = pytest.mark.django_db(transaction=True)

ADMIN = system_actor("pytest admin")


def subscribe(world, receiver, path: str, actions: list[str]) -> tuple[WebhookSubscription, str]:
    with tenant_context(world.tenant):
        return webhooks.create_subscription(f"{receiver.url}{path}", actions, "SIEM", actor=ADMIN)


def client_credentials(world) -> dict:
    """A client-credentials grant through the real token view (one token.issued event)."""
    app = world.web.application
    basic = base64.b64encode(f"{app.client_id}:{world.web.client_secret}".encode()).decode()
    response = Client().post(f"/t/{world.tenant.slug}/token", "grant_type=client_credentials",
                             content_type="application/x-www-form-urlencoded", HTTP_AUTHORIZATION=f"Basic {basic}")
    assert response.status_code == 200, response.content
    return response.json()


def deliveries(world, **filters) -> list[WebhookDelivery]:
    with tenant_context(world.tenant):
        return list(WebhookDelivery.objects.filter(**filters).order_by("created", "seq"))


def test_signed_deliveries_and_a_retry_after_the_receiver_answered_500(world_a, receiver):
    subscription, secret = subscribe(world_a, receiver, "/siem", ["token.*"])
    receiver.answer(500)

    client_credentials(world_a)

    # The first attempt ran when the grant committed (tasks are eager here) and got a 500.
    [delivery] = deliveries(world_a)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.PENDING, 1, 500)
    assert delivery.last_error == "HTTP 500"
    assert len(receiver.on("/siem")) == 1

    assert sweep_webhooks.delay().get() == 1  # the retry is due (WEBHOOK_RETRY_DELAYS 0 here)

    [delivery] = deliveries(world_a)
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.DELIVERED, 2, 200)
    assert delivery.delivered_at is not None
    first, retry = receiver.on("/siem")
    for received in (first, retry):
        assert received.headers["content-type"] == "application/json"
        assert received.headers["tessera-event"] == Action.TOKEN_ISSUED
        assert received.headers["tessera-webhook-id"] == str(delivery.pk)  # the receiver's idempotency key
        # What a receiver does: recompute the HMAC over the raw body with its secret.
        assert webhook_delivery.verify_signature(secret, received.body, received.headers["tessera-signature"])
    body = json.loads(retry.body)
    with tenant_context(world_a.tenant):
        event = AuditEvent.objects.get(seq=delivery.seq)
    assert body["action"] == "token.issued" and body["seq"] == event.seq and body["hash"] == event.hash
    assert body["tenant_id"] == world_a.tenant.pk and body["type"] == "event"

    header = retry.headers["tessera-signature"]
    timestamp = int(header.split(",")[0].removeprefix("t="))
    assert abs(time.time() - timestamp) < 60
    tampered = retry.body.replace(b'"success"', b'"failure"')
    assert tampered != retry.body
    assert not webhook_delivery.verify_signature(secret, tampered, header)
    assert not webhook_delivery.verify_signature("another secret", retry.body, header)
    # Replayed later than the five minutes receivers allow: refused.
    assert not webhook_delivery.verify_signature(secret, retry.body, header, now=timestamp + 301)
    assert webhook_delivery.verify_signature(secret, retry.body, header, now=timestamp + 299)
    assert not webhook_delivery.verify_signature(secret, retry.body, f"t={timestamp - 301},"
                                                 + header.split(",")[1], now=timestamp)


def test_only_matching_actions_are_delivered_and_never_another_tenants(world_a, world_b, receiver):
    subscribe(world_a, receiver, "/tokens", ["token.*"])
    subscribe(world_a, receiver, "/logins", ["auth.login.failed", "client.created"])
    subscribe(world_b, receiver, "/b", ["admin.action"])
    everything, _ = subscribe(world_a, receiver, "/all", ["*"])

    client_credentials(world_a)
    client_credentials(world_b)  # B's token: not A's business
    with tenant_context(world_b.tenant):
        record(Action.ADMIN_ACTION, actor=ADMIN, details={"n": "b"})
    with tenant_context(world_a.tenant):
        record(Action.ADMIN_ACTION, actor=ADMIN, details={"n": "a"})

    def actions(path: str) -> list[str]:
        return [r.headers["tessera-event"] for r in receiver.on(path)]

    assert actions("/tokens") == ["token.issued"]
    assert actions("/logins") == []
    assert actions("/b") == ["admin.action"]
    assert [json.loads(r.body)["details"] for r in receiver.on("/b")] == [{"n": "b"}]
    # "*" gets every event of A chained after it: the later subscriptions, the token, the admin action.
    assert actions("/all") == ["webhook.created", "token.issued", "admin.action"]
    for received in receiver.on("/all") + receiver.on("/tokens"):
        assert json.loads(received.body)["tenant_id"] == world_a.tenant.pk
    with tenant_context(world_a.tenant):
        assert set(WebhookDelivery.objects.values_list("payload__tenant_id", flat=True)) == {world_a.tenant.pk}
        assert WebhookDelivery.objects.filter(subscription=everything, status=DeliveryStatus.DELIVERED).count() == 3


def test_a_delivery_fails_after_its_retries_and_redeliver_sends_it_again(world_a, receiver):
    subscription, secret = subscribe(world_a, receiver, "/down", ["admin.action"])
    receiver.answer(500, 502, 503)
    with tenant_context(world_a.tenant):
        record(Action.ADMIN_ACTION, actor=ADMIN)
    sweep_webhooks.delay()
    sweep_webhooks.delay()
    [delivery] = deliveries(world_a)
    # Three attempts with WEBHOOK_RETRY_DELAYS [0, 0]: the first and two retries, then failed.
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == (DeliveryStatus.FAILED, 3, 503)
    assert sweep_webhooks.delay().get() == 0
    assert len(receiver.on("/down")) == 3

    with tenant_context(world_a.tenant):
        webhooks.redeliver(delivery, actor=ADMIN)
        assert [d.pk for d in webhooks.list_deliveries(subscription)] == [delivery.pk]
        delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.DELIVERED, 1)
    assert webhook_delivery.verify_signature(secret, receiver.on("/down")[-1].body,
                                             receiver.on("/down")[-1].headers["tessera-signature"])
    with tenant_context(world_a.tenant):
        assert AuditEvent.objects.filter(action=Action.WEBHOOK_REDELIVERED).count() == 1


def test_two_attempts_at_once_send_once(world_a, receiver):
    subscribe(world_a, receiver, "/once", ["admin.action"])
    receiver.answer(500)
    with tenant_context(world_a.tenant):
        record(Action.ADMIN_ACTION, actor=ADMIN)
        [delivery] = WebhookDelivery.objects.all()
        # Due again (retry delay 0); the first claim wins, the second finds it taken.
        assert webhook_delivery.claim(str(delivery.pk)) is True
        assert webhook_delivery.claim(str(delivery.pk)) is False
        assert webhook_delivery.deliver(str(delivery.pk)) is None
    assert deliver_webhook.delay(world_a.tenant.pk, str(delivery.pk)).get() is None
    assert len(receiver.on("/once")) == 1


def test_a_rotated_secret_signs_the_next_deliveries(world_a, receiver):
    subscription, old = subscribe(world_a, receiver, "/rotate", ["admin.action"])
    with tenant_context(world_a.tenant):
        new = webhooks.rotate_subscription_secret(subscription, actor=ADMIN)
        record(Action.ADMIN_ACTION, actor=ADMIN)
    assert new != old and len(new) >= 43  # 256 bits
    [received] = receiver.on("/rotate")
    header = received.headers["tessera-signature"]
    assert webhook_delivery.verify_signature(new, received.body, header)
    assert not webhook_delivery.verify_signature(old, received.body, header)
    with tenant_context(world_a.tenant):
        stored = bytes(WebhookSubscription.objects.get(pk=subscription.pk).sealed_secret)
        trail = json.dumps(list(AuditEvent.objects.values("details", "actor")), default=str)
    assert new.encode() not in stored and old.encode() not in stored  # sealed at rest
    assert new not in trail and old not in trail


def test_a_tenant_without_subscriptions_pays_no_query_for_webhooks(world_a, receiver):
    subscribe(world_a, receiver, "/warm", ["token.*"])  # the cache is loaded for a tenant with one
    with tenant_context(world_a.tenant):
        record(Action.ADMIN_ACTION, actor=ADMIN)  # loads A's patterns: no match, no subscription query
        with CaptureQueriesContext(connection) as queries:
            record(Action.ADMIN_ACTION, actor=ADMIN)
    assert not [q for q in queries.captured_queries if "webhook" in q["sql"]], queries.captured_queries
    with tenant_context(world_a.tenant):
        with CaptureQueriesContext(connection) as queries:
            record(Action.TOKEN_REVOKED, actor=ADMIN)
    assert [q for q in queries.captured_queries if "audit_webhookdelivery" in q["sql"]]


def test_the_sweep_sends_deliveries_whose_task_was_lost(world_a, receiver, monkeypatch):
    subscribe(world_a, receiver, "/lost", ["admin.action"])
    monkeypatch.setattr("audit.outbox.enqueue", lambda deliveries: None)  # the broker was down
    with tenant_context(world_a.tenant):
        record(Action.ADMIN_ACTION, actor=ADMIN)
    assert receiver.on("/lost") == []
    assert [d.status for d in deliveries(world_a)] == [DeliveryStatus.PENDING]
    assert sweep_webhooks.delay().get() == 1
    assert [d.status for d in deliveries(world_a)] == [DeliveryStatus.DELIVERED]
    assert len(receiver.on("/lost")) == 1


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook", "https://localhost/hook", "https://10.1.2.3/hook", "https://192.168.0.10/hook",
    "https://172.16.0.1/hook", "https://169.254.169.254/latest/meta-data", "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook", "https://0.0.0.0/hook", "https://224.0.0.1/hook", "https://100.64.0.1/hook",
    "https://[fd00::1]/hook", "https://[fe80::1]/hook",
    "https://[2002:7f00:1::1]/hook", "https://[2001:0:4136:e378:8000:63bf:80ff:fffe]/hook",  # 6to4, Teredo of 127.0.0.1
])
def test_private_and_loopback_endpoints_are_refused(world_a, settings, url):
    settings.TESSERA = {**settings.TESSERA, "WEBHOOK_ALLOW_PRIVATE_NETWORKS": False}
    with tenant_context(world_a.tenant), pytest.raises(ValidationError, match="cannot be sent there"):
        webhooks.create_subscription(url, ["*"], actor=ADMIN)


@pytest.mark.parametrize("url, why", [
    ("http://hooks.example.com/x", "https://"), ("https://user:pw@hooks.example.com/x", "credentials"),
    ("ftp://hooks.example.com/x", "https://"), ("https:///x", "host"),
])
def test_only_https_urls_without_credentials(world_a, url, why):
    with tenant_context(world_a.tenant), pytest.raises(ValidationError, match=why):
        webhooks.create_subscription(url, ["*"], actor=ADMIN)


def test_unknown_actions_are_refused(world_a, receiver):
    with tenant_context(world_a.tenant):
        for actions in ([], ["token.isued"], ["nothing.*"], "token.*", [1]):
            with pytest.raises(ValidationError):
                webhooks.create_subscription(f"{receiver.url}/x", actions, actor=ADMIN)
        subscription, _ = webhooks.create_subscription(f"{receiver.url}/x", ["auth.login.*", "*", "*"], actor=ADMIN)
    assert subscription.actions == ["auth.login.*", "*"]


def test_an_endpoint_that_turns_private_is_not_reached(world_a, receiver, settings):
    """Checked again at delivery time, on the address connected to: a subscription made while
    allowed (or a name that resolves elsewhere since) reaches nothing private."""
    subscribe(world_a, receiver, "/later", ["admin.action"])
    settings.TESSERA = {**settings.TESSERA, "WEBHOOK_ALLOW_PRIVATE_NETWORKS": False}
    with tenant_context(world_a.tenant):
        record(Action.ADMIN_ACTION, actor=ADMIN)
    [delivery] = deliveries(world_a)
    assert receiver.on("/later") == []
    assert delivery.status == DeliveryStatus.PENDING and delivery.last_status_code is None
    assert "private, loopback or reserved" in delivery.last_error, delivery.last_error


def test_disabling_and_deleting_a_subscription(world_a, receiver):
    subscription, _ = subscribe(world_a, receiver, "/off", ["admin.action"])
    with tenant_context(world_a.tenant):
        webhooks.update_subscription(subscription, actor=ADMIN, is_active=False)
        record(Action.ADMIN_ACTION, actor=ADMIN)
        assert not WebhookDelivery.objects.exists()
        webhooks.update_subscription(subscription, actor=ADMIN, is_active=True, description="back")
        record(Action.ADMIN_ACTION, actor=ADMIN)
        assert WebhookDelivery.objects.get().status == DeliveryStatus.DELIVERED
        webhooks.delete_subscription(subscription, actor=ADMIN)
        assert not WebhookDelivery.objects.exists() and not WebhookSubscription.objects.exists()
        trail = list(AuditEvent.objects.filter(action__startswith="webhook.").values_list("action", flat=True))
    assert trail == ["webhook.created", "webhook.updated", "webhook.updated", "webhook.deleted"]
    assert len(receiver.on("/off")) == 1
