"""The platform API (/api/v1/tenants/): tenants with their first admin, deactivation, usage.

Platform staff are the platform tenant's admins; here, its service clients (client
credentials at the platform tenant's own issuer). Flows that need a browser run against the
live server through the real pages.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from audit.models import Action, AuditEvent
from core.conf import tessera_settings
from tenants.context import tenant_context
from tenants.models import Tenant
from tenants.services import update_policy
from tests.api.conftest import AdminWorld, Api, build_admin_world, client_credentials_token
from tests.conftest import PASSWORD, build_world
from tests.oidc import Browser
from tests.security.flows import full_flow, refresh, sign_in

BASE = "/api/v1/tenants"


@pytest.fixture
def platform(db) -> AdminWorld:
    """The platform tenant, with a full and a read-only admin and admin service clients."""
    return build_admin_world(tessera_settings.PLATFORM_TENANT, "Platform")


@pytest.fixture
def staff(platform: AdminWorld) -> Api:
    """Platform staff: a platform client with admin:read and admin:write."""
    return Api(client_credentials_token(platform.slug, platform.writer_client), BASE)


def _trail(tenant: Any) -> list[AuditEvent]:
    with tenant_context(tenant):
        return list(AuditEvent.objects.order_by("seq"))


def test_staff_create_a_tenant_whose_first_admin_sets_a_password_and_signs_in(live_server, platform, staff):
    created = staff.post(f"{BASE}/", {"slug": "initech", "name": "Initech",
                                       "first_admin": {"username": "peter", "email": "peter@initech.example"}})
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["slug"] == "initech" and body["is_active"] is True
    assert body["first_admin"]["username"] == "peter" and body["first_admin"]["admin_role"] == "full"
    link = body["password_link"]
    assert re.search(r"/t/initech/password/reset/[^/]+/[^/]+$", link), link
    tenant = Tenant.objects.get(slug="initech")
    update_policy(tenant, risk_step_up_threshold=100)  # a first sign-in from a new browser: no emailed code

    # Its issuer serves at once, with its own signing keys.
    issuer = f"{live_server.url}/t/initech"
    browser = Browser(live_server.url)
    assert browser.go(f"{issuer}/.well-known/openid-configuration").json()["issuer"] == issuer
    # No password until the admin sets one through the link (which works once).
    assert 'name="username"' in sign_in(browser, issuer, "peter", PASSWORD).text
    path = link.split("/t/", 1)[1]
    form = browser.go(f"{live_server.url}/t/{path}")
    assert form.status_code == 200 and 'name="new_password1"' in form.text, form.text[:500]
    done = browser.submit(form, {"new_password1": "first-admin-pass-123", "new_password2": "first-admin-pass-123"})
    assert done.status_code == 200, done.text[:500]
    assert Browser(live_server.url).go(f"{live_server.url}/t/{path}").status_code == 400  # used up

    home = sign_in(Browser(live_server.url), issuer, "peter", "first-admin-pass-123")
    assert home.status_code == 200 and 'name="password"' not in home.text, home.text[:500]

    # The new tenant's trail begins with its creation; the platform's entry says who and why.
    trail = _trail(tenant)
    actions = [e.action for e in trail]
    assert actions[:1] == [Action.TENANT_CREATED]
    assert Action.PLATFORM_ACCESS in actions and Action.USER_CREATED in actions
    assert Action.LOGIN_SUCCEEDED in actions
    access = next(e for e in trail if e.action == Action.PLATFORM_ACCESS)
    assert access.actor_id == platform.writer_client.application.client_id and "peter" in access.details["reason"]
    token = link.rsplit("/", 1)[1]
    assert all(token not in str(e.details) for e in trail)
    # The link was shown once: nothing else the API answers carries it.
    assert token not in staff.get(f"{BASE}/initech/").content.decode()
    assert token not in staff.get(f"{BASE}/").content.decode()


def test_a_tenant_refused_leaves_nothing_behind(platform, staff, admin_a):
    def create(slug: str, email: str = "x@example.com") -> Any:
        return staff.post(f"{BASE}/", {"slug": slug, "name": "X", "first_admin": {"username": "x", "email": email}})

    for slug in (tessera_settings.PLATFORM_TENANT, admin_a.slug, "Not A Slug", "-x"):
        response = create(slug)
        assert response.status_code == 400, (slug, response.content)
        assert response["Content-Type"] == "application/problem+json"
        assert {e["field"] for e in response.json()["errors"]} == {"slug"}
    missing = staff.post(f"{BASE}/", {"slug": "hooli", "name": "Hooli"})
    assert missing.status_code == 400 and {e["field"] for e in missing.json()["errors"]} == {"first_admin"}
    assert create("hooli", "not-an-email").status_code == 400
    assert not Tenant.objects.filter(slug="hooli").exists()


def test_staff_list_filter_and_read_tenants(platform, staff, admin_a, admin_b):
    listed = staff.get(f"{BASE}/")
    assert listed.status_code == 200
    slugs = {t["slug"] for t in listed.json()["results"]}
    assert slugs == {"platform", "acme", "globex"}
    assert set(listed.json()["results"][0]) == {"slug", "name", "display_name", "is_active", "created"}
    assert [t["slug"] for t in staff.get(f"{BASE}/", slug="glob").json()["results"]] == ["globex"]
    assert [t["slug"] for t in staff.get(f"{BASE}/", name="acme c").json()["results"]] == ["acme"]
    assert staff.get(f"{BASE}/", is_active="false").json()["results"] == []
    read = staff.get(f"{BASE}/acme/")
    assert read.status_code == 200 and read.json()["name"] == "Acme Corp"
    assert staff.get(f"{BASE}/nope/").status_code == 404


def test_deactivation_takes_a_tenant_offline_until_reactivated(platform, staff, admin_a):
    tenant_token = client_credentials_token(admin_a.slug, admin_a.writer_client)
    tenant_api = Api(tenant_token, admin_a.base)
    discovery = f"/t/{admin_a.slug}/.well-known/openid-configuration"
    assert Client().get(discovery).status_code == 200
    assert tenant_api.get("clients/").status_code == 200

    off = staff.post(f"{BASE}/acme/deactivate/")
    assert off.status_code == 200 and off.json()["is_active"] is False
    assert Client().get(discovery).status_code == 404
    refused = tenant_api.get("clients/")
    assert refused.status_code == 404 and refused["Content-Type"] == "application/problem+json"
    assert Client().post(f"/t/{admin_a.slug}/introspect", {"token": tenant_token}).status_code == 404
    assert staff.get(f"{BASE}/", is_active="false").json()["results"][0]["slug"] == "acme"
    assert staff.post(f"{BASE}/acme/deactivate/").status_code == 200  # again: nothing changes

    on = staff.post(f"{BASE}/acme/reactivate/")
    assert on.status_code == 200 and on.json()["is_active"] is True
    assert Client().get(discovery).status_code == 200
    assert tenant_api.get("clients/").status_code == 200  # suspended, not revoked

    # Both changes are in acme's own trail, each behind the platform's entry.
    trail = [(e.action, e.details) for e in _trail(admin_a.tenant)
             if e.action in (Action.PLATFORM_ACCESS, Action.TENANT_UPDATED)]
    assert [a for a, _ in trail] == [Action.PLATFORM_ACCESS, Action.TENANT_UPDATED] * 2
    assert trail[1][1]["changes"] == {"is_active": {"from": True, "to": False}}
    assert trail[3][1]["changes"] == {"is_active": {"from": False, "to": True}}


def test_the_platform_tenant_cannot_be_deactivated(platform, staff):
    response = staff.post(f"{BASE}/platform/deactivate/")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert staff.get(f"{BASE}/").status_code == 200


def test_only_platform_staff_with_the_scope_may_act(platform, admin_a):
    reader = Api(client_credentials_token(platform.slug, platform.reader_client, "admin:read"), BASE)
    assert reader.get(f"{BASE}/").status_code == 200
    assert reader.get(f"{BASE}/acme/usage/").status_code == 200
    new = {"slug": "hooli", "name": "Hooli", "first_admin": {"username": "gavin", "email": "gavin@hooli.example"}}
    assert reader.post(f"{BASE}/", new).status_code == 403
    assert reader.post(f"{BASE}/acme/deactivate/").status_code == 403
    plain = Api(client_credentials_token(platform.slug, platform.plain_client, ""), BASE)
    assert plain.get(f"{BASE}/").status_code == 403
    # A tenant admin's token is its tenant's, not the platform's: unknown here.
    tenant_admin = Api(client_credentials_token(admin_a.slug, admin_a.writer_client), BASE)
    for response in (tenant_admin.get(f"{BASE}/"), tenant_admin.post(f"{BASE}/", new),
                     tenant_admin.post(f"{BASE}/acme/deactivate/"), tenant_admin.get(f"{BASE}/acme/usage/")):
        assert response.status_code in (401, 403), response.content
    assert Api(None, BASE).get(f"{BASE}/").status_code == 401
    assert Tenant.objects.get(slug="acme").is_active and not Tenant.objects.filter(slug="hooli").exists()


def test_usage_counts_sign_ins_active_users_and_tokens_by_grant(live_server, platform, staff):
    world = build_world("acme", "Acme Corp")
    issuer = f"{live_server.url}/t/acme"
    assert sign_in(Browser(live_server.url), issuer).status_code == 200  # sign-in 1
    wrong = sign_in(Browser(live_server.url), issuer, password="not-the-password")  # the failure
    assert 'name="password"' in wrong.text
    tokens = full_flow(Browser(live_server.url), issuer, world)  # sign-in 2, then authorization_code
    client_id, secret = world.web.application.client_id, world.web.client_secret
    assert refresh(issuer, tokens["refresh_token"], client_id, secret).status_code == 200
    for _ in range(2):
        assert client_credentials_token("acme", world.web, scope="") is not None

    today = timezone.now().date()
    response = staff.get(f"{BASE}/acme/usage/")
    assert response.status_code == 200, response.content
    usage = response.json()
    assert usage["tenant"] == "acme" and usage["last_day"] == today.isoformat()
    assert usage["first_day"] == (today - timedelta(days=29)).isoformat() and len(usage["days"]) == 30
    day = usage["days"][-1]
    assert day == {"day": today.isoformat(), "sign_ins_succeeded": 2, "sign_ins_failed": 1, "active_users": 1,
                   "tokens": {"authorization_code": 1, "refresh_token": 1, "client_credentials": 2}}
    assert all(d["sign_ins_succeeded"] == 0 and sum(d["tokens"].values()) == 0 for d in usage["days"][:-1])
    assert usage["monthly_active_users"][-1] == {"month": today.strftime("%Y-%m"),
                                                 "first_day": max(today.replace(day=1),
                                                                  today - timedelta(days=29)).isoformat(),
                                                 "last_day": today.isoformat(), "active_users": 1}
    assert usage["totals"] == {"sign_ins_succeeded": 2, "sign_ins_failed": 1,
                               "tokens": {"authorization_code": 1, "refresh_token": 1, "client_credentials": 2}}
    # The platform's tokens are counted at the platform, not here; the read is in acme's trail.
    assert _trail(world.tenant)[-1].action == Action.PLATFORM_ACCESS

    one_day = staff.get(f"{BASE}/acme/usage/", **{"from": today.isoformat(), "to": today.isoformat()}).json()
    assert [d["day"] for d in one_day["days"]] == [today.isoformat()]
    earlier = (today - timedelta(days=400)).isoformat()
    past = staff.get(f"{BASE}/acme/usage/", **{"from": earlier, "to": (today - timedelta(days=370)).isoformat()})
    assert past.status_code == 200 and past.json()["totals"]["sign_ins_succeeded"] == 0


@pytest.mark.parametrize("query", [
    {"from": "2026-01-01", "to": "2027-01-03"},  # 368 days
    {"from": "2026-02-01", "to": "2026-01-01"},
    {"from": "yesterday"},
    {"to": "2026-13-01"},
    {"to": "0001-01-05"},
    {"from": "9999-12-31", "to": "9999-12-31"},
])
def test_usage_refuses_a_bad_range(platform, staff, admin_a, query):
    response = staff.get(f"{BASE}/acme/usage/", **query)
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
