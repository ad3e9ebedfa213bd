"""The platform admin: the platform tenant's own admin, where its staff also see the tenants."""

from __future__ import annotations

import re

from django.test import Client

from audit.models import Action
from tenants.models import Tenant
from tests.admin.conftest import admin_url, sign_in
from tests.admin.test_tenant_admin import trail


def test_admin_redirects_to_the_platform_tenants_admin(db):
    response = Client().get("/admin/")
    assert response.status_code == 302 and response["Location"] == "/t/platform/admin/"
    deeper = Client().get("/admin/tenants/tenant/?q=acme")
    assert deeper["Location"] == "/t/platform/admin/tenants/tenant/?q=acme"
    assert Client().get("/admin")["Location"].endswith("/admin/")


def test_platform_staff_see_and_deactivate_tenants(platform, admin_a, admin_b):
    _tenant, _staff = platform
    staff = sign_in("platform", "staff", next_url="/t/platform/admin/")
    assert staff.landed == "/t/platform/admin/"
    index = staff.get(admin_url("platform")).content.decode()
    assert "/t/platform/admin/tenants/tenant/" in index
    listing = staff.get(admin_url("platform", "tenants/tenant/")).content.decode()
    assert all(slug in listing for slug in ("acme", "globex", "platform"))
    # The platform's users are its own: no other tenant's rows.
    users = staff.get(admin_url("platform", "accounts/user/")).content.decode()
    assert "staff@platform.example" in users and "root@acme.example" not in users

    acme_admin = sign_in(admin_a.slug, "root")
    response = staff.post(admin_url("platform", "tenants/tenant/"),
                          {"action": "deactivate", "_selected_action": [admin_a.tenant.pk]})
    assert response.status_code == 302
    assert not Tenant.objects.get(pk=admin_a.tenant.pk).is_active
    # Gone at once: its admin, its pages, its sessions.
    assert acme_admin.get(admin_url(admin_a.slug)).status_code == 404
    assert Client().get(f"/t/{admin_a.slug}/.well-known/openid-configuration").status_code == 404
    # Audited in the tenant's own trail, through the platform door.
    actions = [e.action for e in trail(admin_a.tenant)][-2:]
    assert actions == [Action.PLATFORM_ACCESS, Action.TENANT_UPDATED]
    assert trail(admin_a.tenant, Action.TENANT_UPDATED)[-1].actor["username"] == "staff"

    # The platform tenant itself is refused, with the service's reason.
    refused = staff.post(admin_url("platform", "tenants/tenant/"),
                         {"action": "deactivate", "_selected_action": [Tenant.objects.get(slug="platform").pk]})
    assert "cannot be deactivated" in staff.get(refused["Location"]).content.decode()

    staff.post(admin_url("platform", "tenants/tenant/"),
               {"action": "reactivate", "_selected_action": [admin_a.tenant.pk]})
    assert Tenant.objects.get(pk=admin_a.tenant.pk).is_active
    assert sign_in(admin_a.slug, "root").get(admin_url(admin_a.slug)).status_code == 200


def test_platform_staff_onboard_a_tenant_with_its_first_admin(platform):
    staff = sign_in("platform", "staff")
    page = staff.post(admin_url("platform", "tenants/tenant/add/"), {
        "slug": "initech", "name": "Initech", "admin_username": "bill", "admin_email": "bill@initech.example",
        "_save": "1"})
    assert page.status_code == 200, page.content.decode()[:3000]
    [link] = re.findall(r"<code data-shown-once>([^<]+)</code>", page.content.decode())
    assert "/t/initech/password/reset/" in link
    tenant = Tenant.objects.get(slug="initech")
    assert [e.action for e in trail(tenant)][:1] == [Action.TENANT_CREATED]
    assert Action.USER_CREATED in [e.action for e in trail(tenant)]
    # A taken slug is a form error.
    again = staff.post(admin_url("platform", "tenants/tenant/add/"), {
        "slug": "initech", "name": "Initech", "admin_username": "bill", "admin_email": "bill@initech.example",
        "_save": "1"})
    assert again.status_code == 200 and "already exists" in again.content.decode()


def test_a_read_only_platform_admin_adds_and_deactivates_nothing(platform, admin_a):
    from accounts.services import create_user
    from tenants.context import tenant_context
    from tests.conftest import PASSWORD

    tenant, _staff = platform
    with tenant_context(tenant):
        create_user(username="viewer", email="viewer@platform.example", password=PASSWORD, email_verified=True,
                    admin_role="read_only")
    viewer = sign_in("platform", "viewer")
    assert viewer.get(admin_url("platform", "tenants/tenant/")).status_code == 200
    assert viewer.get(admin_url("platform", "tenants/tenant/add/")).status_code == 403
    viewer.post(admin_url("platform", "tenants/tenant/"),
                {"action": "deactivate", "_selected_action": [admin_a.tenant.pk]})
    assert Tenant.objects.get(pk=admin_a.tenant.pk).is_active


def test_a_tenant_admin_cannot_open_the_platform_admin(platform, admin_a):
    acme_admin = sign_in(admin_a.slug, "root")
    for path in ("", "tenants/tenant/", "accounts/user/"):
        response = acme_admin.get(admin_url("platform", path))
        assert response.status_code == 302 and response["Location"].startswith("/t/platform/admin/login/"), path
    # Their credentials are not the platform's.
    refused = Client().post("/t/platform/login", {"username": "root", "password": "a-long-test-password-42"})
    assert refused.status_code == 200
