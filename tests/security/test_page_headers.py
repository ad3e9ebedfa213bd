"""Every kind of page carries the browser-side protections (issue 15): a CSP without
'unsafe-inline' that forbids framing, nosniff, a Referrer-Policy, COOP and CORP, X-Frame-Options,
and HSTS over HTTPS. Pages of every kind: the tenant's sign-in, MFA, consent, account and reset
pages, the Django admin, the API's Swagger UI and browsable API, and the error pages (unknown
tenant, not found, CSRF failure)."""

from __future__ import annotations

import pyotp
import pytest
from django.test import Client

from accounts import factors
from tenants.context import tenant_context
from tests.api.conftest import build_admin_world
from tests.conftest import PASSWORD, WEB_REDIRECT
from tests.security.flows import authorize_url
from tests.totp import current_code

EXPECTED = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}


def _signed_in(slug: str, username: str = "alice") -> Client:
    http = Client(enforce_csrf_checks=False)
    http.get(f"/t/{slug}/login")
    assert http.post(f"/t/{slug}/login", {"username": username, "password": PASSWORD}).status_code == 302
    return http


def _pages(world) -> dict[str, object]:
    slug = world.slug
    anonymous = Client()
    alice = _signed_in(slug)
    root = _signed_in(slug, "root")
    url, _request = authorize_url("", world.world.web.application.client_id, WEB_REDIRECT)
    with tenant_context(world.tenant):
        device = factors.start_totp_enrolment(world.reader)
        assert factors.confirm_totp(device, current_code(pyotp.TOTP(factors.totp_secret_text(device))))
    auditor = Client()
    auditor.get(f"/t/{slug}/login")
    mfa = auditor.post(f"/t/{slug}/login", {"username": "auditor", "password": PASSWORD})["Location"]
    return {
        "mfa step": auditor.get(mfa),
        "sign-in": anonymous.get(f"/t/{slug}/login"),
        "password reset": anonymous.get(f"/t/{slug}/password/reset/"),
        "consent": alice.get(f"/t/{slug}{url}"),
        "account": alice.get(f"/t/{slug}/account/"),
        "account: passkeys": alice.get(f"/t/{slug}/account/passkeys"),
        "django admin": root.get(f"/t/{slug}/admin/"),
        "django admin: users": root.get(f"/t/{slug}/admin/accounts/user/"),
        "browsable api": root.get(f"/t/{slug}/api/v1/clients/", HTTP_ACCEPT="text/html"),
        "swagger ui": anonymous.get("/api/docs/"),
        "not found (tenant)": anonymous.get(f"/t/{slug}/no-such-page"),
        "not found (platform)": anonymous.get("/no-such-page"),
        "unknown tenant": anonymous.get("/t/no-such-tenant/login"),
        "csrf failure": Client(enforce_csrf_checks=True).post(f"/t/{slug}/login",
                                                               {"username": "a", "password": "b"}),
    }


@pytest.mark.django_db
def test_every_page_type_carries_every_header(settings):
    settings.SECURE_HSTS_SECONDS = 31536000  # as production sets it
    world = build_admin_world("acme", "Acme Corp")
    pages = _pages(world)
    for name, response in pages.items():
        assert response["Content-Type"].startswith("text/html"), (name, response.status_code, response["Content-Type"])
        csp = response.get("Content-Security-Policy", "")
        assert "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp, (name, csp)
        assert "script-src 'self'" in csp and "default-src 'self'" in csp, (name, csp)
        for header, value in EXPECTED.items():
            assert response.get(header) == value, (name, header, response.get(header))
    assert {name: r.status_code for name, r in pages.items() if r.status_code >= 400} == {
        "not found (tenant)": 404, "not found (platform)": 404, "unknown tenant": 404, "csrf failure": 403}
    secure = Client().get("/t/acme/login", secure=True)
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")
