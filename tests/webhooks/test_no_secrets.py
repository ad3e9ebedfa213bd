"""No secret in any webhook payload: a subscription to every action receives a tenant's real
flows (code flow, refresh, client credentials, revocation, TOTP enrolment with recovery codes,
a client secret reissued, the webhook's own secret rotated), and neither the bodies it
received nor the deliveries stored hold any secret those flows produced."""

from __future__ import annotations

import base64
import json

import pytest

from audit import webhooks
from audit.models import WebhookDelivery
from core.actors import system_actor
from idp.services.clients import reissue_client_secret
from tenants.context import tenant_context
from tests.oidc import Browser
from tests.security.flows import full_flow, refresh, sign_in, token_request
from tests.security.test_mfa import enrol_totp

pytestmark = pytest.mark.django_db(transaction=True)


def test_no_secret_in_any_webhook_payload(live_server, issuer_a, world_a, receiver):
    actor = system_actor("pytest admin")
    with tenant_context(world_a.tenant):
        subscription, webhook_secret = webhooks.create_subscription(f"{receiver.url}/all", ["*"], actor=actor)
    app, client_secret = world_a.web.application, world_a.web.client_secret

    browser = Browser(live_server.url)
    first = full_flow(browser, issuer_a, world_a)
    refreshed = refresh(issuer_a, first["refresh_token"], app.client_id, client_secret)
    assert refreshed.status_code == 200, refreshed.text
    refreshed = refreshed.json()
    machine = token_request(issuer_a, {"grant_type": "client_credentials"}, app.client_id, client_secret).json()
    revoked = token_request(issuer_a, {"token": refreshed["access_token"]}, app.client_id, client_secret,
                            endpoint="revoke")
    assert revoked.status_code == 200
    wrong = token_request(issuer_a, {"grant_type": "client_credentials"}, app.client_id, "not-" + client_secret)
    assert wrong.status_code == 401
    sign_in(browser, issuer_a)
    totp, recovery_codes = enrol_totp(browser, issuer_a)
    with tenant_context(world_a.tenant):
        new_client_secret = reissue_client_secret(app, actor=actor)
        new_webhook_secret = webhooks.rotate_subscription_secret(subscription, actor=actor)

    seed = totp.secret
    secrets = {
        "webhook secret": [webhook_secret, new_webhook_secret],
        "client secret": [client_secret, new_client_secret, world_a.first_party.client_secret],
        "TOTP seed": [seed, base64.b32decode(seed + "=" * (-len(seed) % 8)).hex()],
        "recovery code": recovery_codes + [code.replace("-", "") for code in recovery_codes],
        "token": [first["access_token"], first["refresh_token"], first["id_token"], first["code"],
                  refreshed["access_token"], refreshed["refresh_token"], machine["access_token"]],
        "password": ["a-long-test-password-42"],
    }
    received = [(r.headers, r.body.decode()) for r in receiver.on("/all")]
    with tenant_context(world_a.tenant):
        stored = [json.dumps(d.payload) for d in WebhookDelivery.objects.all()]
    # The control: the flows' events did reach the receiver.
    events = {headers["tessera-event"] for headers, _ in received}
    assert {"token.issued", "token.refreshed", "token.revoked", "client.authentication_failed", "mfa.enrolled",
            "mfa.recovery_codes_generated", "client.updated", "webhook.secret_rotated",
            "auth.login.succeeded"} <= events, events
    assert len(stored) >= len(received) > 10

    texts = stored + [body + json.dumps(headers) for headers, body in received]
    for kind, values in secrets.items():
        for value in values:
            assert value and len(value) >= 8
            leaks = [text for text in texts if value in text]
            assert not leaks, f"a {kind} in a webhook payload: {leaks[0][:300]}"
