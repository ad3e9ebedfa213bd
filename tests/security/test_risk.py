"""Risk-based sign-in from both sides: a risky sign-in from a new browser and IP is stepped up
(an emailed code for a user with no factor) and its owner is told; the owner's own browser
is not stepped up whatever an attacker did to the score; the emailed code works once and its
guesses count towards the lock."""

from __future__ import annotations

import re

import pytest

from accounts.views import INVALID_CODE as _INVALID_CODE
from accounts.views import INVALID_CREDENTIALS as _INVALID_CREDENTIALS
from audit.models import AuditEvent
from tenants.context import tenant_context
from tenants.services import update_policy
from tests.conftest import PASSWORD
from tests.security.test_lockout import LOCKED, attempt, browser_at, message, sign_out

pytestmark = pytest.mark.django_db(transaction=True)
INVALID_CODE, INVALID_CREDENTIALS = str(_INVALID_CODE), str(_INVALID_CREDENTIALS)


@pytest.fixture
def risky(world_a):
    """The product's default threshold (the test worlds turn the step-up off)."""
    from tenants.models import SecurityPolicy

    update_policy(world_a.tenant, risk_step_up_threshold=SecurityPolicy._meta.get_field(
        "risk_step_up_threshold").default)


def code_in(mail) -> str:
    return re.search(r"^\s+(\d{6})\s*$", mail.body, re.M).group(1)


def answer(browser, page, code: str):
    return browser.submit(page, {"otp_token": code})


def events(world, action: str) -> list[AuditEvent]:
    with tenant_context(world.tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def _known_browser(live_server, issuer):
    home = browser_at(live_server, "127.0.0.1")
    assert "Signed in" in attempt(home, issuer, "alice", PASSWORD).text  # the first sign-in: no risk yet
    sign_out(home)
    return home


def test_a_risky_sign_in_is_stepped_up_by_email_and_its_owner_told(live_server, issuer_a, world_a, risky,
                                                                    mailoutbox):
    _known_browser(live_server, issuer_a)
    stranger = browser_at(live_server, "127.0.0.7")
    for _ in range(2):
        assert message(attempt(stranger, issuer_a, "alice", "not-the-password")) == INVALID_CREDENTIALS
    page = attempt(stranger, issuer_a, "alice", PASSWORD)
    assert "/t/acme/login/mfa" in page.url and "Signed in" not in page.text
    assert 'name="otp_token"' in page.text and "data-email-code" in page.text
    [step_up] = events(world_a, "auth.risk_step_up")
    # 2 failures for the user (20) and from the IP (10), a new browser (20), a new IP (10).
    assert step_up.details["score"] == 60 and step_up.details["threshold"] == 25
    assert step_up.details["factor"] == "email code"
    assert "first sign-in from this device" in step_up.details["reasons"]
    assert "first sign-in from this IP address" in step_up.details["reasons"]
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["alice@example.com"]
    code = code_in(mailoutbox[0])

    wrong = answer(stranger, page, f"{(int(code) + 1) % 1_000_000:06d}")
    assert wrong.status_code == 400 and INVALID_CODE in wrong.text
    done = answer(stranger, wrong, code)
    assert "Signed in" in done.text
    succeeded = events(world_a, "auth.login.succeeded")[-1]
    assert succeeded.details["amr"] == ["pwd", "otp"] and succeeded.risk_score == 60
    # The owner hears of it, with the account page to act on.
    assert len(mailoutbox) == 2 and mailoutbox[1].to == ["alice@example.com"]
    assert "127.0.0.7" in mailoutbox[1].body and f"{issuer_a}/account/" in mailoutbox[1].body
    assert [e.details["kind"] for e in events(world_a, "user.email_sent")] == ["sign_in_code", "new_device"]
    # The account page shows the sign-in with its score and reasons.
    account = stranger.go(f"{issuer_a}/account/")
    # The reasons are recorded in English and shown in the page's words (audit.risk.describe).
    assert 'data-risk-score="60"' in account.text and "first sign-in from this browser" in account.text

    # The code worked once: a new sign-in from another stranger cannot reuse it.
    again = browser_at(live_server, "127.0.0.8")
    page = attempt(again, issuer_a, "alice", PASSWORD)
    assert "/login/mfa" in page.url
    assert INVALID_CODE in answer(again, page, code).text


def test_the_owners_browser_is_not_stepped_up_whatever_the_attacker_did(live_server, issuer_a, world_a, risky,
                                                                         mailoutbox):
    home = _known_browser(live_server, issuer_a)
    attacker = browser_at(live_server, "127.0.0.9")
    for _ in range(3):
        attempt(attacker, issuer_a, "alice", "not-the-password")
    page = attempt(home, issuer_a, "alice", PASSWORD)
    assert "Signed in" in page.text
    assert events(world_a, "auth.login.succeeded")[-1].risk_score >= 30  # risky, but a known browser
    assert not events(world_a, "auth.risk_step_up") and not mailoutbox


def test_guessing_the_emailed_code_locks_like_any_code(live_server, issuer_a, world_a, risky, mailoutbox):
    update_policy(world_a.tenant, lockout_failure_limit=3)
    _known_browser(live_server, issuer_a)
    stranger = browser_at(live_server, "127.0.0.10")
    attempt(stranger, issuer_a, "alice", "not-the-password")
    page = attempt(stranger, issuer_a, "alice", PASSWORD)
    assert "/login/mfa" in page.url
    code = code_in(mailoutbox[0])
    for _ in range(3):  # the right password reset the counter; three wrong codes reach the limit
        page = answer(stranger, page, "000000" if code != "000000" else "111111")
        assert INVALID_CODE in page.text
    refused = answer(stranger, page, code)  # even the right code is not checked now
    assert refused.status_code == 429 and LOCKED in message(refused)


def test_a_risky_user_without_factor_or_email_is_refused_readably(live_server, issuer_a, world_a, risky,
                                                                  mailoutbox):
    with tenant_context(world_a.tenant):
        type(world_a.user).objects.filter(pk=world_a.user.pk).update(email="")
    _known_browser(live_server, issuer_a)
    stranger = browser_at(live_server, "127.0.0.11")
    for _ in range(2):
        attempt(stranger, issuer_a, "alice", "not-the-password")
    refused = attempt(stranger, issuer_a, "alice", PASSWORD)
    assert refused.status_code == 403 and "needs another check" in refused.text and not mailoutbox
