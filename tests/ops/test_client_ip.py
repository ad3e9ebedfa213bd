"""The client address (core.client_ip) from the attacker's side: X-Forwarded-For is ignored
unless proxies are configured, then only the entry the trusted proxy appended counts; the audit
trail and the lockout key on that one address."""

from __future__ import annotations

import pytest

from audit.models import Action, AuditEvent
from core.client_ip import client_ip
from tenants.context import tenant_context
from tenants.services import update_policy
from tests.conftest import PASSWORD
from tests.oidc import Browser
from tests.security.flows import sign_in

LOCKED = "Too many failed attempts"
WRONG = "wrong-password-123"


def _proxy_settings(settings, count: int) -> None:
    settings.TESSERA = {**settings.TESSERA, "TRUSTED_PROXY_COUNT": count}


@pytest.mark.parametrize(("count", "forwarded", "expected"), [
    (0, "203.0.113.9", "127.0.0.1"),                          # default: the header is anyone's to write
    (0, "", "127.0.0.1"),
    (1, "203.0.113.9", "203.0.113.9"),                        # nginx appended the client
    (1, "10.6.6.6, 203.0.113.9", "203.0.113.9"),              # the client's own claim comes first
    (1, "10.6.6.6,203.0.113.9 ", "203.0.113.9"),
    (2, "10.6.6.6, 203.0.113.9, 192.0.2.1", "203.0.113.9"),   # load balancer, then nginx
    (2, "203.0.113.9", "127.0.0.1"),                          # fewer entries than proxies
    (1, "", "127.0.0.1"),                                     # no header at all
    (1, "10.6.6.6, not-an-address", "127.0.0.1"),             # never a non-address
    (1, "2001:db8::1", "2001:db8::1"),
])
def test_the_client_address_follows_the_trusted_proxy_count(settings, count, forwarded, expected):
    _proxy_settings(settings, count)
    meta = {"REMOTE_ADDR": "127.0.0.1", **({"HTTP_X_FORWARDED_FOR": forwarded} if forwarded else {})}
    assert client_ip(meta) == expected


def _failed_sign_in_ips(world) -> list[str]:
    with tenant_context(world.tenant):
        return list(AuditEvent.objects.filter(action=Action.LOGIN_FAILED).order_by("seq").values_list("ip", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_spoofed_forwarded_for_is_ignored_by_default(live_server, issuer_a, world_a):
    browser = Browser(live_server.url)
    browser.http.headers["X-Forwarded-For"] = "203.0.113.9"
    sign_in(browser, issuer_a, password="wrong-password-123")
    assert _failed_sign_in_ips(world_a) == ["127.0.0.1"]


@pytest.mark.django_db(transaction=True)
def test_behind_one_proxy_the_address_it_appended_is_audited(live_server, issuer_a, world_a, settings):
    _proxy_settings(settings, 1)
    browser = Browser(live_server.url)
    browser.http.headers["X-Forwarded-For"] = "10.6.6.6, 203.0.113.9"  # client's claim, proxy's entry
    sign_in(browser, issuer_a, password="wrong-password-123")
    assert _failed_sign_in_ips(world_a) == ["203.0.113.9"]


def _attempts(live_server, issuer: str, forwarded: str, times: int, password: str = WRONG):
    browser = Browser(live_server.url)
    browser.http.headers["X-Forwarded-For"] = forwarded
    page = None
    for _ in range(times):
        page = sign_in(browser, issuer, password=password)
    assert page is not None
    return page


def _locked(page) -> bool:
    """Locked on username + address: the policy's cool-off (15 minutes), not the per-username
    slow-down of a few seconds that every other address meets after failures."""
    return page.status_code == 429 and LOCKED in page.text and int(page.headers["Retry-After"]) > 60


@pytest.mark.django_db(transaction=True)
def test_the_lockout_is_keyed_by_the_proxied_address(live_server, issuer_a, world_a, settings):
    """Behind one proxy: the locked address is the one the proxy saw, so another client behind
    the same proxy is not locked, and the locked client cannot escape by writing the header."""
    _proxy_settings(settings, 1)
    update_policy(world_a.tenant, lockout_failure_limit=3)
    _attempts(live_server, issuer_a, "203.0.113.9", 3)
    assert _locked(_attempts(live_server, issuer_a, "203.0.113.9", 1, password=PASSWORD))
    assert _locked(_attempts(live_server, issuer_a, "198.51.100.1, 203.0.113.9", 1, password=PASSWORD))
    assert not _locked(_attempts(live_server, issuer_a, "203.0.113.10", 1, password=PASSWORD))


@pytest.mark.django_db(transaction=True)
def test_without_proxies_a_forwarded_for_does_not_escape_the_lockout(live_server, issuer_a, world_a):
    update_policy(world_a.tenant, lockout_failure_limit=3)
    _attempts(live_server, issuer_a, "203.0.113.9", 3)
    assert _locked(_attempts(live_server, issuer_a, "203.0.113.10", 1, password=PASSWORD))
