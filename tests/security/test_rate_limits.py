"""Rate limits, from the attacker's side (core.ratelimit; issue 15).

Requests go through the real views with Django's test client; each sets REMOTE_ADDR, which is
the client address when no trusted proxy is configured (core.client_ip). Limits are made small
through the tenant's policy, so each test sends a handful of requests. The Redis tests use a
real redis-server: the shared fixture's, and one of their own that they stop.
"""

from __future__ import annotations

import base64
import io
import logging
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client
from prometheus_client import REGISTRY

from audit.models import Action, AuditEvent
from core import ratelimit
from core.ratelimit import Budget, Limiter, Rate
from idp.models import GrantType
from idp.services.clients import create_client
from tenants.context import tenant_context
from tenants.services import update_policy
from tests.conftest import PASSWORD, _in_ci

pytestmark = pytest.mark.django_db
FORM = "application/x-www-form-urlencoded"
WAIT = "Too many requests from here"
WRONG = "wrong-password-123"


def login(slug: str, username: str, password: str = WRONG, *, ip: str = "10.0.0.1",
          client: Client | None = None, **headers: Any) -> Any:
    return (client or Client()).post(f"/t/{slug}/login", {"username": username, "password": password},
                                     REMOTE_ADDR=ip, **headers)


def token(slug: str, client_id: str, secret: str, *, ip: str = "10.0.0.1") -> Any:
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return Client().post(f"/t/{slug}/token", urlencode({"grant_type": "client_credentials"}), content_type=FORM,
                         HTTP_AUTHORIZATION=f"Basic {basic}", REMOTE_ADDR=ip)


def refusals(world: Any) -> list[AuditEvent]:
    with tenant_context(world.tenant):
        return list(AuditEvent.objects.filter(action=Action.RATE_LIMITED).order_by("seq"))


def refused_count(scope: str) -> float:
    return REGISTRY.get_sample_value("tessera_rate_limited_requests_total", {"scope": scope}) or 0.0


def test_a_password_spray_from_one_address_is_refused_after_the_limit_and_others_are_not(world_a):
    update_policy(world_a.tenant, ratelimit_signin_per_ip=5)
    slug = world_a.tenant.slug
    before = refused_count("signin.ip")
    assert [login(slug, f"user{i}").status_code for i in range(5)] == [200] * 5  # wrong passwords
    refused = login(slug, "alice", PASSWORD)  # even the right password: not checked
    assert refused.status_code == 429 and WAIT in refused.content.decode()
    assert 0 < int(refused["Retry-After"]) <= 60
    assert "tessera_session" not in refused.cookies or not refused.cookies["tessera_session"].value
    # The page speaks the page's language.
    german = login(slug, "user9", HTTP_ACCEPT_LANGUAGE="de")
    assert german.status_code == 429 and "Zu viele Anfragen von hier" in german.content.decode()
    # Another address is not affected: alice signs in from it.
    assert login(slug, "alice", PASSWORD, ip="10.0.0.2").status_code == 302
    assert refused_count("signin.ip") - before == 2


def test_one_account_hammered_from_many_addresses_is_limited_per_account_but_not_for_its_own_browser(world_a):
    update_policy(world_a.tenant, ratelimit_signin_per_account=4)
    slug = world_a.tenant.slug
    owner = Client()
    owner.get(f"/t/{slug}/login", REMOTE_ADDR="10.9.9.9")  # the page gives the browser its device cookie
    # The owner's first sign-in from this browser spends one; the browser is known from then on.
    assert login(slug, "alice", PASSWORD, ip="10.9.9.9", client=owner).status_code == 302
    owner.cookies.pop("tessera_session")
    # Each attacker address sends one guess; the email address names the same account.
    assert [login(slug, "alice", ip=f"10.1.0.{i}").status_code for i in range(2)] == [200, 200]
    assert login(slug, "ALICE@example.com", ip="10.1.0.2").status_code == 200
    assert login(slug, "alice", ip="10.1.0.3").status_code == 429
    assert login(slug, "alice", PASSWORD, ip="10.1.0.4").status_code == 429  # a stranger: refused
    # The owner's browser (it signed in as alice before) still gets in, and other accounts are fine.
    assert login(slug, "alice", PASSWORD, ip="10.9.9.9", client=owner).status_code == 302
    assert login(slug, "bob", ip="10.1.0.5").status_code == 200
    [event] = refusals(world_a)
    assert event.subject == "alice" and event.details["scope"] == "signin.account"


def test_the_mfa_step_spends_the_same_budgets(world_a):
    from accounts import factors
    from accounts.models import TOTPDevice

    with tenant_context(world_a.tenant):
        device = factors.start_totp_enrolment(world_a.user)
        TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
    update_policy(world_a.tenant, ratelimit_signin_per_account=3)
    slug, browser = world_a.tenant.slug, Client()
    assert login(slug, "alice", PASSWORD, client=browser)["Location"].startswith(f"/t/{slug}/login/mfa")
    codes = [browser.post(f"/t/{slug}/login/mfa", {"otp_token": "not-a-code"}, REMOTE_ADDR="10.0.0.1").status_code
             for _ in range(3)]
    assert codes == [400, 400, 429]


def test_password_reset_and_its_links_are_limited_per_address_and_per_account(world_a):
    update_policy(world_a.tenant, ratelimit_recovery_per_ip=4, ratelimit_recovery_per_account=2)
    slug = world_a.tenant.slug
    reset = f"/t/{slug}/password/reset/"
    answers = [Client().post(reset, {"email": "alice@example.com"}, REMOTE_ADDR=f"10.2.0.{i}").status_code
               for i in range(3)]
    assert answers == [200, 200, 429]  # the address, from anywhere
    # Guessing links of one account: per account too, and from one address per address.
    links = [Client().get(f"{reset}MQ/guess-{i}", REMOTE_ADDR="10.3.0.1").status_code for i in range(3)]
    assert links == [400, 400, 429]
    # Three spent from that address (the refused one too: it was made); one left.
    assert Client().post(reset, {"email": "bob@example.com"}, REMOTE_ADDR="10.3.0.1").status_code == 200
    assert Client().post(reset, {"email": "carol@example.com"}, REMOTE_ADDR="10.3.0.1").status_code == 429


def test_registration_is_limited_when_the_tenant_offers_it(world_a):
    update_policy(world_a.tenant, allow_self_registration=True, ratelimit_recovery_per_ip=2)
    register = f"/t/{world_a.tenant.slug}/register"
    codes = [Client().post(register, {"email": f"new{i}@example.com"}, REMOTE_ADDR="10.4.0.1").status_code
             for i in range(3)]
    assert codes == [400, 400, 429]  # invalid forms count too: the budget is spent before any work


def test_the_token_endpoint_limits_each_client_with_the_oauth_error_body(world_a):
    update_policy(world_a.tenant, ratelimit_client_requests=3)
    slug = world_a.tenant.slug
    web = world_a.web
    with tenant_context(world_a.tenant):
        other = create_client(name="Other service", confidential=True, grant_types=[GrantType.CLIENT_CREDENTIALS],
                              redirect_uris=[])
    # Wrong secrets do not spend the client's budget: nobody can exhaust it by knowing its id.
    assert [token(slug, web.application.client_id, "wrong", ip="10.6.0.1").status_code for _ in range(4)] == [401] * 4
    assert [token(slug, web.application.client_id, web.client_secret).status_code for _ in range(3)] == [200] * 3
    refused = token(slug, web.application.client_id, web.client_secret, ip="10.5.0.9")  # from anywhere
    assert refused.status_code == 429 and 0 < int(refused["Retry-After"]) <= 60
    assert refused["Content-Type"] == "application/json" and refused["Cache-Control"] == "no-store"
    body = refused.json()
    assert body["error"] == "temporarily_unavailable" and "try again" in body["error_description"]
    assert token(slug, other.application.client_id, other.client_secret).status_code == 200
    [event] = refusals(world_a)
    assert event.details["scope"] == "token.client" and event.target_id == web.application.client_id
    assert web.client_secret not in str(event.details) and event.ip == "10.5.0.9"


def test_failed_client_authentications_are_limited_per_address(world_a):
    update_policy(world_a.tenant, ratelimit_client_failures_per_ip=2)
    slug = world_a.tenant.slug
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    assert [token(slug, client_id, "wrong").status_code for _ in range(3)] == [401, 401, 429]
    assert token(slug, client_id, secret).status_code == 429  # that address is refused here for now
    assert token(slug, client_id, secret, ip="10.0.0.2").status_code == 200
    introspection = Client().post(f"/t/{slug}/introspect", urlencode({"token": "x" * 43}), content_type=FORM,
                                  REMOTE_ADDR="10.0.0.1")
    assert introspection.status_code == 429 and introspection.json()["error"] == "temporarily_unavailable"


def test_a_refusal_is_audited_once_per_budget_and_window_and_counted_every_time(world_a):
    update_policy(world_a.tenant, ratelimit_signin_per_ip=1, ratelimit_window=2)
    slug = world_a.tenant.slug
    before = refused_count("signin.ip")
    assert login(slug, "alice").status_code == 200
    assert [login(slug, "alice").status_code for _ in range(4)] == [429] * 4
    [event] = refusals(world_a)
    assert event.outcome == "failure" and event.ip == "10.0.0.1"
    assert event.details == {"scope": "signin.ip", "limit": 1, "window": 2, "retry_after": event.details["retry_after"]}
    assert "wrong-password" not in str(event.details)
    assert refused_count("signin.ip") - before == 4
    time.sleep(2.2)  # the next window: its first refusal is recorded again
    assert login(slug, "alice").status_code == 200
    assert login(slug, "alice").status_code == 429
    assert len(refusals(world_a)) == 2


def test_limits_changed_through_the_policy_api_take_effect(world_a):
    from tests.api.conftest import build_admin_world, client_credentials_token

    admin = build_admin_world("initech", "Initech")
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {client_credentials_token(admin.slug, admin.writer_client)}"}
    policy = f"/t/{admin.slug}/api/v1/policy/"
    shown = Client().get(policy, **bearer).json()
    assert shown["ratelimit_signin_per_ip"] == 300 and shown["ratelimit_window"] == 60  # the defaults
    changed = Client().patch(policy, {"ratelimit_signin_per_ip": 2}, content_type="application/json", **bearer)
    assert changed.status_code == 200 and changed.json()["ratelimit_signin_per_ip"] == 2
    assert [login(admin.slug, "alice").status_code for _ in range(3)] == [200, 200, 429]
    assert login(world_a.tenant.slug, "alice").status_code == 200  # another tenant's policy is its own
    refused = Client().patch(policy, {"ratelimit_window": 0}, content_type="application/json", **bearer)
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "ratelimit_window"


# -- Redis ----------------------------------------------------------------------------------


def _budget(limit: int = 3) -> Budget:
    return Budget("signin.ip", Rate(limit, 60), "1", f"10.0.0.{time.monotonic_ns()}")


def test_two_processes_share_their_counts_in_redis(redis_server):
    first, second = Limiter(redis_server.url), Limiter(redis_server.url)
    budget = _budget()
    assert [first.hit(budget), second.hit(budget), first.hit(budget)] == [True, True, True]
    assert second.hit(budget) is False and first.test(budget) is False
    assert not first.degraded and not second.degraded
    # Nothing of what is counted is in the keys: only digests.
    import redis

    keys = [key.decode() for key in redis.Redis.from_url(redis_server.url).keys("*")]
    assert keys and not any("10.0.0." in key for key in keys)


def test_the_pages_count_in_redis_when_it_is_configured(world_a, redis_server, settings):
    settings.TESSERA = {**settings.TESSERA, "RATELIMIT_URL": redis_server.url}
    update_policy(world_a.tenant, ratelimit_signin_per_ip=2)
    assert [login(world_a.tenant.slug, "alice", ip="10.7.0.1").status_code for _ in range(2)] == [200, 200]
    # Another process (a limiter of its own) sees the same counts.
    other = Limiter(redis_server.url)
    budget = Budget("signin.ip", Rate(2, 60), str(world_a.tenant.pk), "10.7.0.1")
    assert other.test(budget) is False
    ratelimit.limiter().memory.reset()  # nothing of it was in this process's memory
    assert login(world_a.tenant.slug, "alice", ip="10.7.0.1").status_code == 429


@pytest.fixture
def own_redis():
    """A redis-server of this test's own, which it may stop."""
    from devtools.redisserver import start_redis

    try:
        server = start_redis(appendfsync="no")
    except RuntimeError as exc:
        if _in_ci():
            pytest.fail(f"this test needs Redis, and CI must run it: {exc}")
        pytest.skip(f"needs Redis: {exc}")
    yield server
    server.stop()


def test_with_redis_stopped_each_process_enforces_the_limit_in_memory(own_redis):
    logged = io.StringIO()
    handler = logging.StreamHandler(logged)
    logging.getLogger("tessera.ratelimit").addHandler(handler)
    active = Limiter(own_redis.url)
    budget = _budget(limit=3)
    assert active.hit(budget) and active.hit(budget)
    own_redis.stop()
    started = time.monotonic()
    answers = [active.hit(budget) for _ in range(4)]
    assert time.monotonic() - started < 1.0  # no stall: one failed call, then memory
    assert answers == [True, True, True, False]  # still limited: never unlimited
    assert active.degraded and "Redis unreachable" in logged.getvalue()
    logging.getLogger("tessera.ratelimit").removeHandler(handler)


def test_sign_ins_and_tokens_keep_working_and_limited_when_redis_is_unreachable(world_a, settings, tmp_path):
    settings.TESSERA = {**settings.TESSERA, "RATELIMIT_URL": f"unix://{tmp_path}/no-redis.sock"}
    update_policy(world_a.tenant, ratelimit_signin_per_ip=2, ratelimit_client_requests=2)
    slug, web = world_a.tenant.slug, world_a.web
    assert login(slug, "alice", PASSWORD).status_code == 302
    assert login(slug, "alice").status_code == 200
    assert login(slug, "alice").status_code == 429
    assert [token(slug, web.application.client_id, web.client_secret).status_code for _ in range(3)] == [200, 200, 429]
    assert ratelimit.limiter().degraded


def test_passkey_assertions_spend_the_sign_in_budget(world_a):
    """A passwordless passkey assertion is a sign-in attempt: past the address's budget the
    ceremony's endpoint answers 429 with Retry-After before it reads the assertion."""
    update_policy(world_a.tenant, ratelimit_signin_per_ip=2, allow_passkeys=True, allow_passwordless=True)
    url = f"/t/{world_a.tenant.slug}/passkeys/authenticate/complete"
    browser = Client()
    answers = [browser.post(url, "{}", content_type="application/json", REMOTE_ADDR="10.0.0.7") for _ in range(3)]
    assert [answer.status_code for answer in answers[:2]] != [429, 429]
    assert all(answer.status_code < 500 for answer in answers[:2])
    assert answers[2].status_code == 429 and 0 < int(answers[2]["Retry-After"]) <= 60
    # Another address still reaches the ceremony.
    assert browser.post(url, "{}", content_type="application/json", REMOTE_ADDR="10.0.0.8").status_code != 429
    assert refused_count("signin.ip") >= 1
