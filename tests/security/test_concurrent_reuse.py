"""Two requests presenting the same refresh token or code at the same moment, on PostgreSQL.

Both pass validation before either claims (a barrier holds each right after its validation),
then race: exactly one wins, and the loser's request, which is reuse, revokes the whole family,
the winner's brand-new tokens included, and records token.reuse_detected. The loser must not
lose its revocation and event with its own error response (RFC 9700 §4.14.2, RFC 6749 §4.1.2).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import pytest

from audit.models import Action, AuditEvent
from idp.validators import TesseraOAuth2Validator
from tenants.context import tenant_context
from tests.oidc import Browser
from tests.security.flows import exchange, full_flow, introspect, obtain_code, refresh

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _held_at(method_name: str):
    """Patch a validator method so that two concurrent requests both finish it before either
    goes on (the window a real race needs, made certain)."""
    barrier = threading.Barrier(2, timeout=15)
    original = getattr(TesseraOAuth2Validator, method_name)

    def held(self, *args, **kwargs):
        result = original(self, *args, **kwargs)
        if result:
            barrier.wait()
        return result

    return mock.patch.object(TesseraOAuth2Validator, method_name, held)


def _twice_at_once(send):
    with ThreadPoolExecutor(2) as pool:
        return list(pool.map(lambda _: send(), range(2)))


def _reuse_events(world, reason: str) -> list[AuditEvent]:
    with tenant_context(world.tenant):
        return [e for e in AuditEvent.objects.filter(action=Action.TOKEN_REUSE_DETECTED)
                if e.details.get("reason") == reason]


def test_concurrent_refresh_token_reuse_kills_the_winners_chain(live_server, issuer_a, world_a):
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    with _held_at("validate_refresh_token"):
        responses = _twice_at_once(lambda: refresh(issuer_a, tokens["refresh_token"], client_id, secret))
    assert sorted(r.status_code for r in responses) == [200, 400], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200).json()
    loser = next(r for r in responses if r.status_code == 400).json()
    assert loser["error"] == "invalid_grant"
    # The loser's revocation committed: the winner's new refresh and access tokens are dead.
    assert refresh(issuer_a, winner["refresh_token"], client_id, secret).status_code == 400
    assert introspect(issuer_a, winner["access_token"], client_id, secret) == {"active": False}
    assert introspect(issuer_a, winner["refresh_token"], client_id, secret, "refresh_token") == {"active": False}
    events = _reuse_events(world_a, "refresh_token_reused")
    assert events and events[0].outcome == "failure" and events[0].actor_id == client_id


def test_concurrent_code_exchange_kills_the_winners_tokens(live_server, issuer_a, world_a):
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    with _held_at("validate_code"):
        responses = _twice_at_once(lambda: exchange(issuer_a, code, request, client_id, secret))
    assert sorted(r.status_code for r in responses) == [200, 400], [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200).json()
    assert introspect(issuer_a, winner["access_token"], client_id, secret) == {"active": False}
    assert refresh(issuer_a, winner["refresh_token"], client_id, secret).status_code == 400
    assert _reuse_events(world_a, "code_replayed")


def _mfa_pages(live_server, issuer, client_id, count=2):
    """``count`` browsers, each with alice's password done and her MFA step open. From
    different addresses: attempts at one username from one address queue behind each other
    (accounts.lockout holds its counter's row), and these must run at once."""
    from tests.security.test_lockout import browser_at
    from tests.security.test_mfa import password_then_mfa_page

    return [(browser, *password_then_mfa_page(browser, issuer, client_id))
            for browser in (browser_at(live_server, f"127.0.3.{n + 1}") for n in range(count))]


def _held_after(target: str):
    """Let both requests finish ``target`` (a function of accounts.factors) before either goes on."""
    import accounts.factors

    barrier = threading.Barrier(2, timeout=15)
    original = getattr(accounts.factors, target)

    def held(*args, **kwargs):
        result = original(*args, **kwargs)
        barrier.wait()
        return result

    return mock.patch.object(accounts.factors, target, held)


def test_one_totp_code_sent_twice_at_once_signs_in_once(live_server, issuer_a, world_a):
    from tests.security.flows import sign_in
    from tests.security.test_mfa import _next_of, enrol_totp
    from tests.totp import later_code

    setup = Browser(live_server.url)
    sign_in(setup, issuer_a)
    totp, _codes = enrol_totp(setup, issuer_a)
    pages = _mfa_pages(live_server, issuer_a, world_a.first_party.application.client_id)
    code = later_code(totp)
    # Both requests have checked the code against the seed before either claims its time step.
    with _held_after("TOTP"):
        with ThreadPoolExecutor(2) as pool:
            responses = list(pool.map(
                lambda entry: entry[0].submit(entry[1], {"otp_token": code, "next": _next_of(entry[1])}), pages))
    assert sorted(r.status_code for r in responses) == [302, 400], [r.status_code for r in responses]


def test_one_recovery_code_sent_twice_at_once_signs_in_once(live_server, issuer_a, world_a):
    from accounts.models import RecoveryCode
    from tests.security.flows import sign_in
    from tests.security.test_mfa import _next_of, enrol_totp

    setup = Browser(live_server.url)
    sign_in(setup, issuer_a)
    _totp, codes = enrol_totp(setup, issuer_a)
    pages = _mfa_pages(live_server, issuer_a, world_a.first_party.application.client_id)
    with _held_after("_code_digest"):
        with ThreadPoolExecutor(2) as pool:
            responses = list(pool.map(
                lambda entry: entry[0].submit(entry[1], {"otp_token": codes[0], "next": _next_of(entry[1])}),
                pages))
    assert sorted(r.status_code for r in responses) == [302, 400], [r.status_code for r in responses]
    with tenant_context(world_a.tenant):
        assert RecoveryCode.objects.count() == 9
