"""The front channel in a real browser: login page, consent page, sign-out, and the CSP."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from accounts.views import INVALID_CREDENTIALS
from tests.browser.conftest import RP_ORIGIN, wait_until
from tests.conftest import PASSWORD, WEB_REDIRECT
from tests.oidc import RelyingParty

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOT = "/tmp/tessera-login.png"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def web_rp(issuer: str, world) -> RelyingParty:
    return RelyingParty(issuer, world.web.application.client_id, world.web.client_secret, WEB_REDIRECT)


def path_of(url: str) -> str:
    return urlsplit(url).path


def sign_in(page, username: str, password: str) -> None:
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    with page.expect_navigation():
        page.click('form button[type="submit"]')


def wait_for_rp(page) -> dict[str, str]:
    page.wait_for_url(f"{RP_ORIGIN}/**")
    assert page.url.startswith(WEB_REDIRECT + "?"), page.url
    return query(page.url)


def csp_violations(page) -> list:
    return page.evaluate("window.__cspViolations")


def inline_scripts(page) -> int:
    return page.evaluate("Array.from(document.scripts).filter(s => !s.src).length")


def test_code_flow_login_consent_and_token_exchange(page, live_server, issuer_a, world_a):
    rp = web_rp(issuer_a, world_a)
    url, pending = rp.authorization_url()

    page.goto(url)
    assert path_of(page.url) == "/t/acme/login"
    assert page.locator("p.tenant").text_content() == "Acme Corp"
    assert page.locator("h1").inner_text() == "Sign in"
    assert "Acme Corp" in page.title()
    # The stylesheet loaded and applies: the card is not the browser's default block.
    assert page.evaluate("document.styleSheets.length") >= 1
    assert page.locator("main.card").evaluate("e => getComputedStyle(e).borderRadius") == "12px"
    assert page.locator("button[type=submit]").evaluate("e => getComputedStyle(e).color") == "rgb(255, 255, 255)"
    page.screenshot(path=SCREENSHOT, full_page=True)

    sign_in(page, "alice", PASSWORD)
    assert path_of(page.url) == "/t/acme/authorize"
    assert page.locator("h1").inner_text() == f"Allow {world_a.web.application.name}?"
    scopes = page.locator("ul.scopes li")
    assert [scopes.nth(i).get_attribute("data-scope") for i in range(scopes.count())] == [
        "openid", "profile", "email"]
    assert scopes.all_inner_texts() == ["Sign you in", "See your name and username", "See your email address"]
    assert page.get_by_text("Signed in as").inner_text().startswith("Signed in as alice")

    page.click('button[name="allow"]')
    params = wait_for_rp(page)
    assert set(params) == {"code", "state", "iss"}
    assert params["state"] == pending["state"]
    assert params["iss"] == issuer_a
    assert page.locator("h1").inner_text() == "Relying party callback"
    assert page.log.rp_requests == [page.url]
    assert page.log.failed == []

    token = rp.exchange(page.url, pending)
    claims = rp.verify_id_token(token["id_token"], nonce=pending["nonce"])
    assert claims["sub"] == str(world_a.user.uid)
    assert claims["amr"] == ["pwd"]
    assert token["token_type"] == "Bearer" and token["access_token"]


def test_wrong_password_and_unknown_user_get_the_same_error(page, live_server, issuer_a, world_a):
    url, _pending = web_rp(issuer_a, world_a).authorization_url()
    page.goto(url)
    login_url = page.url

    messages = []
    for username, password in [("alice", PASSWORD + "-wrong"), ("nobody-here", PASSWORD)]:
        sign_in(page, username, password)
        assert path_of(page.url) == "/t/acme/login"
        assert page.locator("h1").inner_text() == "Sign in"
        alert = page.locator('[role="alert"]')
        assert alert.count() == 1
        messages.append(alert.inner_text())
        # The form is shown again, ready for another try, and the password is not echoed back.
        assert page.locator('input[name="username"]').input_value() == username
        assert page.locator('input[name="password"]').input_value() == ""
        assert PASSWORD not in page.content()
    assert messages == [INVALID_CREDENTIALS, INVALID_CREDENTIALS]
    assert page.log.rp_requests == []

    # The form still carries the way back to the authorization request.
    next_value = page.locator('input[name="next"]').input_value()
    assert next_value == query(login_url)["next"] and next_value.startswith("/t/acme/authorize?")
    sign_in(page, "alice", PASSWORD)
    assert path_of(page.url) == "/t/acme/authorize"


def test_no_csp_violations_and_no_inline_script(page, live_server, issuer_a, world_a):
    documents = []
    page.on("response", lambda r: documents.append(r)
            if r.request.resource_type == "document" and r.url.startswith(live_server.url) else None)

    def check_page(expected_path: str, heading: str) -> None:
        assert path_of(page.url) == expected_path
        assert page.locator("h1").inner_text() == heading
        assert inline_scripts(page) == 0, page.content()
        assert page.evaluate("document.querySelectorAll('style, [style]').length") == 0
        assert csp_violations(page) == []
        # The page's only stylesheet is same-origin and was applied (not blocked by the CSP).
        assert page.evaluate("Array.from(document.styleSheets).map(s => s.cssRules.length > 0)") == [True]

    url, _pending = web_rp(issuer_a, world_a).authorization_url()
    page.goto(url)
    check_page("/t/acme/login", "Sign in")
    sign_in(page, "alice", PASSWORD)
    check_page("/t/acme/authorize", f"Allow {world_a.web.application.name}?")
    page.click('button[name="allow"]')
    wait_for_rp(page)

    page.goto(f"{issuer_a}/logout")
    check_page("/t/acme/logout", "Sign out?")
    with page.expect_navigation():
        page.click('button[name="confirm"]')
    check_page("/t/acme/logout", "You are signed out")

    assert page.log.csp_console_errors() == []
    assert page.log.failed == []
    pages = [r for r in documents if r.status == 200]
    assert {path_of(r.url) for r in pages} == {"/t/acme/login", "/t/acme/authorize", "/t/acme/logout"}
    for response in pages:
        policy = response.headers.get("content-security-policy")
        assert policy, f"no CSP on {response.url}"
        directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
        assert "'unsafe-inline'" not in policy and "'unsafe-eval'" not in policy, policy
        assert directives["script-src"] == ["'self'"], policy
        assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]


def test_csp_violation_detection_works(page):
    """Control for the test above: an inline script under a strict CSP is reported both ways."""
    page.log.rp_pages["/canary"] = (
        {"Content-Security-Policy": "script-src 'self'"},
        "<!doctype html><h1>canary</h1><script>document.title = 'ran'</script>",
    )
    page.goto(f"{RP_ORIGIN}/canary")
    page.wait_for_function("window.__cspViolations.length > 0")
    assert page.title() != "ran"
    assert csp_violations(page)[0]["directive"].startswith("script-src")
    assert wait_until(page, page.log.csp_console_errors), page.log.console
    assert inline_scripts(page) == 1


def test_sign_out_from_account_page_ends_the_session(page, live_server, issuer_a, world_a):
    rp = web_rp(issuer_a, world_a)
    url, _pending = rp.authorization_url()
    page.goto(url)
    sign_in(page, "alice", PASSWORD)
    page.click('button[name="allow"]')
    wait_for_rp(page)

    # While signed in, prompt=none succeeds silently (so the check after sign-out means something).
    url, pending = rp.authorization_url(prompt="none")
    page.goto(url)
    silent = wait_for_rp(page)
    assert "code" in silent and "error" not in silent and silent["state"] == pending["state"]

    page.goto(f"{issuer_a}/")
    assert page.locator("h1").inner_text() == "Signed in"
    assert page.locator("[data-username]").inner_text() == "alice"
    with page.expect_navigation():
        page.get_by_role("button", name="Sign out").click()
    assert path_of(page.url) == "/t/acme/logout"
    assert page.locator("h1").inner_text() == "You are signed out"

    url, pending = rp.authorization_url(prompt="none")
    page.goto(url)
    after = wait_for_rp(page)
    assert after["error"] == "login_required"
    assert after["state"] == pending["state"] and after["iss"] == issuer_a
    assert "code" not in after

    page.goto(f"{issuer_a}/")
    assert page.locator("h1").inner_text() == "Not signed in"
    assert page.log.failed == []
