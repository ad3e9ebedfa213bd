"""Webhooks through the admin API: subscribe (secret once), deliveries listed, redelivered,
the secret rotated, the subscription changed and deleted; a receiver verifies each delivery."""

from __future__ import annotations

import pytest

from audit.webhook_delivery import verify_signature
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db(transaction=True)


def _sign_in_failure(api: Api, slug: str) -> None:
    api.http.post(f"/t/{slug}/login", {"username": "alice", "password": "not her password"})


def test_a_subscription_is_managed_through_the_api_and_its_deliveries_verify(admin_a, admin_b, api_a, receiver):
    created = api_a.post("webhooks/", {"url": f"{receiver.url}/siem", "actions": ["auth.login.*"],
                                       "description": "SIEM"})
    assert created.status_code == 201, created.content
    subscription, secret = created.json()["id"], created.json()["secret"]
    assert secret not in api_a.get(f"webhooks/{subscription}/").content.decode()
    assert secret not in api_a.get("webhooks/").content.decode()

    _sign_in_failure(api_a, admin_a.slug)
    _sign_in_failure(api_a, admin_b.slug)  # another tenant's event never reaches A's endpoint
    [delivery] = receiver.on("/siem")
    assert verify_signature(secret, delivery.body, delivery.headers["tessera-signature"])
    assert delivery.headers["tessera-event"] == "auth.login.failed"
    listed = api_a.get(f"webhooks/{subscription}/deliveries/", status="delivered").json()["results"]
    assert [d["id"] for d in listed] == [delivery.headers["tessera-webhook-id"]]
    assert listed[0]["attempts"] == 1 and listed[0]["last_status_code"] == 200

    rotated = api_a.post(f"webhooks/{subscription}/rotate-secret/")
    assert rotated.status_code == 200
    again = api_a.post(f"webhooks/{subscription}/deliveries/{listed[0]['id']}/redeliver/")
    assert again.status_code == 200, again.content
    resent = receiver.on("/siem")[-1]
    assert verify_signature(rotated.json()["secret"], resent.body, resent.headers["tessera-signature"])
    assert not verify_signature(secret, resent.body, resent.headers["tessera-signature"])

    private = api_a.patch(f"webhooks/{subscription}/", {"url": "http://example.com/hook"})
    assert private.status_code == 400 and private["Content-Type"] == "application/problem+json"
    paused = api_a.patch(f"webhooks/{subscription}/", {"is_active": False})
    assert paused.status_code == 200 and paused.json()["is_active"] is False
    assert api_a.delete(f"webhooks/{subscription}/").status_code == 204
    assert api_a.get(f"webhooks/{subscription}/").status_code == 404
    bad = api_a.get(f"webhooks/{subscription}/deliveries/", status="sideways")
    assert bad.status_code == 404  # the subscription is gone before the filter is read
