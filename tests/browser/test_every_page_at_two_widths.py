"""Every page a person can reach, in Chromium at a desktop's and a phone's width.

The walk takes the paths people take (sign-in, a refused sign-in, reset by email, consent,
the account pages, a second factor, the second step, the lock after repeated failures,
sign-out and the error pages) in a tenant wearing its own branding. At each page and each
width: nothing scrolls sideways, the page's main action is within the width, and the CSP
reported nothing. Each page is also saved as a screenshot, in ``TESSERA_SCREENSHOTS`` when
that is set (the closing notes and docs/pages.md show them), else in the test's tmp folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pyotp
import pytest

from tenants.services import update_policy
from tests.browser.conftest import submit
from tests.browser.test_account_lifecycle import link_in
from tests.browser.test_login_flow import sign_in, web_rp
from tests.browser.test_pages_people_expect import COLOR, DISPLAY_NAME, LOGO, brand
from tests.conftest import PASSWORD
from tests.totp import current_code

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 375, "height": 667}
# The main action of a page: its form's submit button, else its first link button.
MAIN_ACTION = "main form button[type=submit], main a.button"


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("TESSERA_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_every_page_fits_a_phone_and_a_desktop(page, live_server, issuer_a, world_a, mailoutbox, shots):
    brand(world_a.tenant, display_name=DISPLAY_NAME, logo=LOGO, primary_color=COLOR)
    update_policy(world_a.tenant, allow_self_registration=True)
    seen: list[str] = []
    problems: list[str] = []

    def look(name: str) -> None:
        """Check this page at both widths and keep a screenshot of each."""
        page.wait_for_load_state()
        for width, size in (("phone", PHONE), ("desktop", DESKTOP)):
            page.set_viewport_size(size)
            overflow = page.evaluate("document.scrollingElement.scrollWidth") - size["width"]
            if overflow > 0:
                problems.append(f"{name} at {width} width scrolls sideways by {overflow}px")
            outside = page.locator(MAIN_ACTION).evaluate_all(
                "els => els.filter(e => e.getBoundingClientRect().right > innerWidth).length")
            if outside:
                problems.append(f"{name} at {width} width: {outside} button(s) past the edge")
            page.screenshot(path=str(shots / f"{len(seen) + 1:02d}-{name}-{width}.png"), full_page=True)
        violations = page.evaluate("window.__cspViolations")
        if violations:
            problems.append(f"{name}: CSP violations {violations}")
        seen.append(name)

    page.goto(f"{issuer_a}/login")
    look("sign-in")
    sign_in(page, "alice", PASSWORD + "-wrong")
    look("sign-in-refused")

    page.goto(f"{issuer_a}/password/reset/")
    look("password-reset")
    page.fill('input[name="email"]', "alice@example.com")
    submit(page, "form[data-password-reset] button[type=submit]")
    look("password-reset-sent")
    page.goto(link_in(mailoutbox[-1], "/password/reset/"))
    look("password-reset-new-password")
    page.goto(f"{issuer_a}/password/reset/MQ/not-a-token")
    look("password-reset-link-invalid")
    page.goto(f"{issuer_a}/register")
    look("registration")

    # Consent, then the account pages of a signed-in person with a session, a consent and events.
    url, _pending = web_rp(issuer_a, world_a).authorization_url()
    page.goto(url)
    sign_in(page, "alice", PASSWORD)
    look("consent")
    submit(page, 'button[name="allow"]')
    page.goto(f"{issuer_a}/")
    look("home")
    page.goto(f"{issuer_a}/account/")
    look("account")
    for path in ("profile", "password", "applications", "passkeys"):
        page.goto(f"{issuer_a}/account/{path}")
        look(f"account-{path}")
    page.goto(f"{issuer_a}/account/totp")
    look("account-totp-enrolment")
    totp = pyotp.TOTP(page.locator("[data-totp-secret]").inner_text().strip())
    page.fill('input[name="otp_token"]', current_code(totp))
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    look("recovery-codes-shown")
    page.goto(f"{issuer_a}/account/")
    look("account-with-a-factor")

    page.goto(f"{issuer_a}/logout")
    look("sign-out")
    with page.expect_navigation():
        page.click("main form button[type=submit]")
    look("signed-out")

    # The second step, and the page of a sign-in locked after repeated failures.
    page.goto(web_rp(issuer_a, world_a).authorization_url()[0])
    sign_in(page, "alice", PASSWORD)
    assert page.locator('input[name="otp_token"]').count() == 1
    look("second-step")
    page.context.clear_cookies()  # a browser that never signed in as alice: it gets locked
    page.goto(f"{issuer_a}/login")
    for _ in range(6):
        with page.expect_navigation() as navigation:
            page.fill('input[name="username"]', "alice")
            page.fill('input[name="password"]', PASSWORD + "-wrong")
            page.click('form button[type="submit"]')
        if navigation.value.status == 429:
            break
    assert navigation.value.status == 429
    look("sign-in-locked")

    client_id = world_a.web.application.client_id
    page.goto(f"{issuer_a}/authorize?response_type=code&scope=openid&client_id={client_id}"
              "&redirect_uri=https://evil.example/cb")
    look("error-wrong-redirect-uri")
    page.goto(f"{live_server.url}/t/no-such-organisation/login")
    look("unknown-organisation")
    page.goto(f"{issuer_a}/no-such-page")
    look("page-not-found")

    assert not problems, "\n".join(problems)
    assert len(seen) == 24
    assert len(list(shots.glob("*.png"))) >= 2 * len(seen)
