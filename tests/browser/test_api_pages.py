"""The admin API's pages in a real browser, under the pages' CSP: Swagger UI at /api/docs/
(served from the deployment: no CDN) and the browsable API for a signed-in tenant admin."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.api.conftest import build_admin_world
from tests.browser.conftest import submit, wait_until
from tests.conftest import PASSWORD


def test_swagger_ui_lists_every_operation_from_the_deployment_itself(page, live_server, db):
    page.goto("/api/docs/")
    assert wait_until(page, lambda: page.locator(".opblock").count() > 30, timeout_ms=15_000)
    assert page.locator(".opblock-summary-path", has_text="/t/{tenant}/api/v1/users/").count() >= 2
    hosts = {urlsplit(url).netloc for url, _error in page.log.failed}
    assert not page.log.failed, page.log.failed
    assert hosts <= {urlsplit(live_server.url).netloc}
    assert page.evaluate("window.__cspViolations") == []
    assert page.log.csp_console_errors() == []


def test_a_signed_in_admin_browses_the_api_with_the_session(page, live_server, db):
    world = build_admin_world("acme", "Acme Corp")
    page.goto("/t/acme/login")
    page.fill('input[name="username"]', "root")
    page.fill('input[name="password"]', PASSWORD)
    submit(page, 'form button[type="submit"]')
    page.goto("/t/acme/api/v1/clients/")
    assert "Acme Corp Web" in page.content()
    assert world.writer_client.client_secret not in page.content()
    # DRF's page has inline style attributes (a button floated right): the CSP blocks them, a
    # cosmetic loss; no script or stylesheet is refused, and the CSP is not weakened for it.
    violations = page.evaluate("window.__cspViolations")
    assert [v for v in violations if v["directive"] != "style-src-attr"] == [], violations
    # A plain user's session is refused (403), whatever the page.
    page.context.clear_cookies()
    page.goto("/t/acme/login")
    page.fill('input[name="username"]', "alice")
    page.fill('input[name="password"]', PASSWORD)
    submit(page, 'form button[type="submit"]')
    response = page.goto("/t/acme/api/v1/clients/")
    assert response.status == 403
