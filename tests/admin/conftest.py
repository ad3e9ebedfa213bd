"""Django admin fixtures: tenants with a full admin, a read-only admin and a plain user (the
admin API's AdminWorld), and browsers (Django's test client) signed in through the tenant's
real login page."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.test import Client

from accounts.services import create_user
from tenants.context import tenant_context
from tenants.services import create_tenant, update_policy
from tests.api.conftest import admin_a, admin_b  # noqa: F401 - the admin API's fixtures, shared
from tests.conftest import PASSWORD


def sign_in(slug: str, username: str, password: str = PASSWORD, *, next_url: str = "",
            otp: str | None = None) -> Client:
    """A fresh browser signed in at /t/<slug>/login (and its MFA step, with ``otp``)."""
    browser = Client()
    response = browser.post(f"/t/{slug}/login", {"username": username, "password": password, "next": next_url})
    assert response.status_code == 302, response.content.decode()[:2000]
    if "/login/mfa" in response["Location"]:
        assert otp is not None, "this sign-in needs a second factor"
        response = browser.post(response["Location"], {"otp_token": otp, "next": next_url})
        assert response.status_code == 302, response.content.decode()[:2000]
    browser.landed = response["Location"]  # type: ignore[attr-defined]
    return browser


def admin_url(slug: str, rest: str = "") -> str:
    return f"/t/{slug}/admin/{rest}"


def location_path(response) -> str:
    return urlsplit(response["Location"]).path


@pytest.fixture
def platform(db):
    """The platform tenant with a full admin (platform staff) ``staff``."""
    tenant = create_tenant("platform", "Platform")
    update_policy(tenant, risk_step_up_threshold=100)
    with tenant_context(tenant):
        staff = create_user(username="staff", email="staff@platform.example", password=PASSWORD,
                            email_verified=True, admin_role="full")
    return tenant, staff
