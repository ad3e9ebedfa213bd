"""Brute force, from the attacker's side (accounts.lockout behind django-axes' backend).

Many client addresses are real: Linux routes all of 127.0.0.0/8 to loopback, so each Browser
binds its own source address and the server sees a different REMOTE_ADDR.
"""

from __future__ import annotations

import re
import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from django.core.management import call_command
from requests.adapters import HTTPAdapter

from accounts.models import LoginThrottle
from audit.models import AuditEvent
from tenants.context import tenant_context
from tenants.services import update_policy
from tests.conftest import PASSWORD
from tests.oidc import Browser
from tests.security.flows import sign_in

pytestmark = pytest.mark.django_db(transaction=True)
LOCKED = "Too many failed attempts"


class _SourceAddress(HTTPAdapter):
    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def browser_at(live_server, address: str = "127.0.0.1") -> Browser:
    browser = Browser(live_server.url)
    browser.http.mount("http://", _SourceAddress(address))
    return browser


def sign_out(browser: Browser) -> None:
    """End the session the way closing the browser would; the device cookie stays."""
    for cookie in list(browser.http.cookies):
        if cookie.name != "tessera_device":
            browser.http.cookies.clear(cookie.domain, cookie.path, cookie.name)


def attempt(browser: Browser, issuer: str, username: str, password: str) -> requests.Response:
    page = browser.go(f"{issuer}/login")
    return browser.login(page, username, password)


def message(page: requests.Response) -> str:
    found = re.search(r'role="alert"[^>]*>([^<]+)<', page.text)
    return found.group(1).strip() if found else ""


def events(world, action: str) -> list[AuditEvent]:
    with tenant_context(world.tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_the_limit_locks_username_and_ip_with_one_answer_for_known_and_unknown_names(live_server, issuer_a, world_a):
    browser = browser_at(live_server)
    for _ in range(5):
        assert LOCKED not in message(attempt(browser, issuer_a, "alice", "wrong-password-123"))
    locked = attempt(browser, issuer_a, "alice", PASSWORD)  # even the right password: not checked
    assert locked.status_code == 429 and LOCKED in message(locked)
    assert 800 < int(locked.headers["Retry-After"]) <= 900  # the policy's 15 minutes, finite
    for _ in range(5):
        attempt(browser, issuer_a, "nobody-here", "wrong-password-123")
    unknown = attempt(browser, issuer_a, "nobody-here", "wrong-password-123")
    assert unknown.status_code == 429
    assert re.sub(r"\d+", "N", message(unknown)) == re.sub(r"\d+", "N", message(locked))
    # The lock is on username + IP: alice herself, elsewhere, gets in (after the slow-down's
    # first second: 5 failures for her username from browsers she never used).
    time.sleep(1.1)
    assert "Signed in" in attempt(browser_at(live_server, "127.0.0.2"), issuer_a, "ALICE", PASSWORD).text
    locks = events(world_a, "auth.locked_out")
    assert [(e.details["scope"], e.details["username"]) for e in locks] == [("account", "alice"),
                                                                            ("account", "nobody-here")]
    refused = [e for e in events(world_a, "auth.login.failed") if "refused" in e.details]
    assert len(refused) == 2


def test_the_email_and_the_username_share_one_counter(live_server, issuer_a, world_a):
    browser = browser_at(live_server)
    for identifier in ["alice", "Alice@Example.com", "alice", "alice@example.com", "ALICE"]:
        attempt(browser, issuer_a, identifier, "wrong-password-123")
    assert attempt(browser, issuer_a, "alice@example.com", PASSWORD).status_code == 429


def test_spraying_many_usernames_from_one_ip_locks_the_ip(live_server, issuer_a, world_a):
    update_policy(world_a.tenant, ip_failure_limit=10)
    sprayer = browser_at(live_server, "127.0.0.9")
    for n in range(10):
        assert attempt(sprayer, issuer_a, f"user{n}", "Winter2026!").status_code == 200
    refused = attempt(sprayer, issuer_a, "alice", PASSWORD)
    assert refused.status_code == 429 and LOCKED in message(refused)
    assert "Signed in" in attempt(browser_at(live_server, "127.0.0.10"), issuer_a, "alice", PASSWORD).text
    assert [e.details["scope"] for e in events(world_a, "auth.locked_out")] == ["ip"]


def test_a_victim_attacked_from_many_ips_still_signs_in_from_a_browser_they_used_before(
        live_server, issuer_a, world_a):
    victim = browser_at(live_server, "127.0.0.50")
    assert "Signed in" in sign_in(victim, issuer_a).text
    sign_out(victim)
    for n in range(12):  # 12 addresses, 2 guesses each: no single address reaches the lock
        attacker = browser_at(live_server, f"127.0.1.{n + 1}")
        for _ in range(2):
            attempt(attacker, issuer_a, "alice", "wrong-password-123")
    # Strangers are slowed down for this username (never locked out for good)...
    stranger = attempt(browser_at(live_server, "127.0.2.1"), issuer_a, "alice", PASSWORD)
    assert stranger.status_code == 429 and int(stranger.headers["Retry-After"]) <= 900
    # ...and the victim's own browser is not: no wait, no lock, signed in at once.
    assert "Signed in" in attempt(victim, issuer_a, "alice", PASSWORD).text
    with tenant_context(world_a.tenant):
        slow = LoginThrottle.objects.get(scope="user", username="alice")
    assert slow.failures >= 5  # the limit, then one attempt per doubling wait


def test_the_known_browser_has_its_own_finite_lock(live_server, issuer_a, world_a):
    victim = browser_at(live_server)
    sign_in(victim, issuer_a)
    sign_out(victim)
    for _ in range(5):
        attempt(victim, issuer_a, "alice", "wrong-password-123")
    assert attempt(victim, issuer_a, "alice", PASSWORD).status_code == 429  # it is still counted
    [lock] = events(world_a, "auth.locked_out")
    assert lock.details["known_browser"] is True and lock.details["ip"] == ""


@pytest.mark.postgres  # concurrency is PostgreSQL's (SQLite serves make run, one writer at a time)
def test_fifty_concurrent_wrong_passwords_check_no_more_than_the_limit(live_server, issuer_a, world_a):
    browsers = [browser_at(live_server) for _ in range(50)]
    pages = [b.go(f"{issuer_a}/login") for b in browsers]

    def guess(n: int) -> int:
        return browsers[n].login(pages[n], "alice", f"wrong-password-{n}").status_code

    with ThreadPoolExecutor(50) as pool:
        statuses = list(pool.map(guess, range(50)))
    checked = [e for e in events(world_a, "auth.login.failed") if "refused" not in e.details]
    print(f"50 concurrent wrong passwords: {len(checked)} checked, {statuses.count(429)} refused with 429")
    assert len(checked) <= 5, f"{len(checked)} passwords were checked"
    assert statuses.count(200) == len(checked) and statuses.count(429) == 50 - len(checked)
    with tenant_context(world_a.tenant):
        assert LoginThrottle.objects.get(scope="account", username="alice").failures == 5


def test_mfa_codes_count_towards_the_same_lock(live_server, issuer_a, world_a):
    from tests.security.test_mfa import enrol_totp, password_then_mfa_page

    browser = browser_at(live_server)
    sign_in(browser, issuer_a)
    enrol_totp(browser, issuer_a)
    sign_out(browser)
    page, _request = password_then_mfa_page(browser, issuer_a, world_a.first_party.application.client_id)
    for _ in range(5):
        page = browser.submit(page, {"otp_token": "000000"})
        assert page.status_code == 400
    page = browser.submit(page, {"otp_token": "000000"})
    assert page.status_code == 429 and LOCKED in message(page)


def test_an_unknown_user_and_a_wrong_password_take_the_same_time(live_server, issuer_a, world_a):
    update_policy(world_a.tenant, lockout_failure_limit=100, ip_failure_limit=10_000)
    browser = browser_at(live_server)
    page = browser.go(f"{issuer_a}/login")
    timings: dict[str, list[float]] = {"nobody-at-all": [], "alice": []}
    for _ in range(2):  # warm up both paths
        for username in timings:
            browser.login(page, username, "wrong-password-123")
    for _ in range(25):
        for username, samples in timings.items():
            started = time.perf_counter()
            response = browser.login(page, username, "wrong-password-123")
            samples.append(time.perf_counter() - started)
            assert response.status_code == 200 and "not correct" in message(response)
    unknown, wrong = (statistics.median(timings[u]) for u in ("nobody-at-all", "alice"))
    print(f"median unknown user {unknown * 1000:.1f} ms, wrong password {wrong * 1000:.1f} ms")
    assert abs(unknown - wrong) / max(unknown, wrong) < 0.10


def test_unlock_clears_a_lock_by_username_or_by_ip(live_server, issuer_a, world_a, capsys):
    browser = browser_at(live_server)
    for _ in range(5):
        attempt(browser, issuer_a, "alice", "wrong-password-123")
    assert attempt(browser, issuer_a, "alice", PASSWORD).status_code == 429
    call_command("unlock", tenant="acme", username="Alice@example.com")
    assert "Cleared" in capsys.readouterr().out
    assert "Signed in" in attempt(browser, issuer_a, "alice", PASSWORD).text
    update_policy(world_a.tenant, ip_failure_limit=3)
    sprayer = browser_at(live_server, "127.0.0.77")
    for n in range(3):
        attempt(sprayer, issuer_a, f"user{n}", "wrong-password-123")
    assert attempt(sprayer, issuer_a, "bob", "x-wrong-password").status_code == 429
    call_command("unlock", tenant="acme", ip="127.0.0.77")
    assert attempt(sprayer, issuer_a, "bob", "x-wrong-password").status_code == 200
    done = events(world_a, "auth.unlocked")
    assert [(e.details["username"], e.details["ip"]) for e in done] == [("alice", ""), ("", "127.0.0.77")]
    assert done[0].actor_type == "system"
