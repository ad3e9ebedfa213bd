"""A tenant admin in a real browser: sign-in through the tenant's login page with TOTP under
"required for tenant admins", then locking a user from Django admin, under the pages' CSP."""

from __future__ import annotations

import pyotp

from accounts import factors
from accounts.models import User
from audit.models import Action, AuditEvent
from tenants.context import tenant_context
from tenants.models import MFAPolicy
from tenants.services import update_policy
from tests.api.conftest import build_admin_world
from tests.browser.conftest import submit
from tests.conftest import PASSWORD
from tests.totp import current_code, later_code


def test_a_tenant_admin_signs_in_with_totp_and_locks_a_user(page, live_server, db):
    world = build_admin_world("acme", "Acme Corp")
    with tenant_context(world.tenant):
        device = factors.start_totp_enrolment(world.admin)
        totp = pyotp.TOTP(factors.totp_secret_text(device))
        assert factors.confirm_totp(device, current_code(totp))
    update_policy(world.tenant, mfa=MFAPolicy.REQUIRED_FOR_ADMINS)

    page.goto("/t/acme/admin/accounts/user/")
    assert "/t/acme/login?next=" in page.url  # the tenant's own sign-in page
    page.fill('input[name="username"]', "root")
    page.fill('input[name="password"]', PASSWORD)
    submit(page, 'form button[type="submit"]')
    assert "/t/acme/login/mfa" in page.url  # an admin: the second factor is required
    page.fill('input[name="otp_token"]', later_code(totp))
    submit(page, 'form button[type="submit"]:not([name])')
    assert page.url.endswith("/t/acme/admin/accounts/user/"), page.url
    assert page.locator("#result_list").count() == 1

    alice = world.world.user
    page.check(f'input.action-select[value="{alice.pk}"]')  # admin/js/actions.js, from static files
    page.select_option('select[name="action"]', "lock")
    submit(page, 'button[name="index"]')
    assert "alice: locked." in page.locator(".messagelist").text_content().lower()
    with tenant_context(world.tenant):
        assert User.objects.get(pk=alice.pk).locked
        [event] = AuditEvent.objects.filter(action=Action.USER_LOCKED)
    assert event.actor_id == str(world.admin.uid) and event.target_id == str(alice.uid)

    # Django admin's own scripts and styles run under the pages' CSP, unchanged.
    assert page.evaluate("window.__cspViolations") == []
    assert page.log.csp_console_errors() == []
