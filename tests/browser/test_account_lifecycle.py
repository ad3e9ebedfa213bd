"""The account lifecycle in a real browser: password reset by email, the account page's
sessions and applications, "sign out everywhere", self-registration with email verification,
and a profile's new email verified again. Tokens are checked at the token and introspection
endpoints as a relying party would see them."""

from __future__ import annotations

import re

import pytest

from tenants.context import tenant_context
from tenants.services import update_policy
from tests.browser.conftest import RP_ORIGIN, settle, submit
from tests.browser.test_login_flow import query, sign_in, web_rp
from tests.conftest import PASSWORD
from tests.oidc import Browser
from tests.security.flows import assert_oauth_error, full_flow, introspect, refresh

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NEW_PASSWORD = "a-brand-new-passphrase-31"
FIREFOX_ON_WINDOWS = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0"


def link_in(mail, marker: str) -> str:
    return next(url for url in re.findall(r"https?://\S+", mail.body) if marker in url)


def tokens_through(page, issuer: str, world) -> dict:
    """The authorization code flow in this browser (signing in if needed, consenting if asked)."""
    rp = web_rp(issuer, world)
    url, pending = rp.authorization_url()
    page.goto(url)
    if page.locator('input[name="password"]').count():
        sign_in(page, "alice", PASSWORD)
    if page.locator('button[name="allow"]').count():
        submit(page, 'button[name="allow"]')
    page.wait_for_url(f"{RP_ORIGIN}/**")
    return rp.exchange(page.url, pending) | {"callback": query(page.url)}


def refresh_refused(issuer: str, world, token: str) -> None:
    assert_oauth_error(refresh(issuer, token, world.web.application.client_id, world.web.client_secret),
                       "invalid_grant")


def test_password_reset_by_emailed_link(page, live_server, issuer_a, world_a, mailoutbox):
    tokens = tokens_through(page, issuer_a, world_a)
    page.context.clear_cookies()

    page.goto(f"{issuer_a}/login")
    submit(page, "a[data-forgot-password]")
    assert page.url.endswith("/t/acme/password/reset/")
    # An address nobody here has: the same page, and nothing is sent.
    page.fill('input[name="email"]', "nobody@example.com")
    submit(page, "form[data-password-reset] button[type=submit]")
    unknown = page.locator("[data-password-reset-sent]").inner_text()
    assert not mailoutbox
    page.goto(f"{issuer_a}/password/reset/")
    page.fill('input[name="email"]', "ALICE@example.com")
    submit(page, "form[data-password-reset] button[type=submit]")
    assert page.locator("[data-password-reset-sent]").inner_text() == unknown.replace(
        "nobody@example.com", "ALICE@example.com")
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["alice@example.com"]
    link = link_in(mailoutbox[0], "/password/reset/")
    assert link.startswith(f"{issuer_a}/password/reset/")

    page.goto(link)
    assert page.url.endswith("/set-password") and link.rsplit("/", 1)[1] not in page.url  # token off the URL
    page.fill('input[name="new_password1"]', "short")
    page.fill('input[name="new_password2"]', "short")
    submit(page, "form[data-set-password] button[type=submit]")
    field = page.locator('input[aria-invalid="true"]')  # Django's validators speak on the confirmation
    assert field.count() == 1
    error = page.locator(f"#{field.get_attribute('aria-describedby').split()[-1]}")
    assert "at least 12 characters" in error.inner_text()
    page.fill('input[name="new_password1"]', NEW_PASSWORD)
    page.fill('input[name="new_password2"]', NEW_PASSWORD)
    submit(page, "form[data-set-password] button[type=submit]")
    assert page.locator("[data-password-reset-done]").is_visible()

    # The link worked once; the tokens from before are dead; the new password signs in.
    page.goto(link)
    assert page.locator("[data-link-invalid]").is_visible()
    refresh_refused(issuer_a, world_a, tokens["refresh_token"])
    page.goto(f"{issuer_a}/login")
    sign_in(page, "alice", PASSWORD)
    assert page.url.endswith("/t/acme/login")
    sign_in(page, "alice", NEW_PASSWORD)
    assert page.url.endswith("/t/acme/")
    submit(page, "a[data-account]")
    events = page.locator("[data-events] li").evaluate_all("items => items.map(i => i.dataset.event)")
    assert "user.password_changed" in events and "user.password_reset_requested" in events


def test_sessions_listed_one_revoked_then_everywhere(page, chromium, live_server, issuer_a, world_a):
    other = chromium.new_context(base_url=live_server.url, user_agent=FIREFOX_ON_WINDOWS)
    other_tab = other.new_page()
    other_tab.goto(f"{issuer_a}/login")
    sign_in(other_tab, "alice", PASSWORD)
    tokens = tokens_through(page, issuer_a, world_a)

    page.goto(f"{issuer_a}/account/")
    sessions = page.locator("[data-sessions] li")
    assert sessions.count() == 2
    assert page.locator("[data-current-session]").count() == 1
    theirs = page.locator("[data-sessions] li:not([data-current-session])")
    # Named as people know it; the whole header is the name's title.
    assert "Firefox on Windows" in theirs.inner_text() and "127.0.0.1" in theirs.inner_text()
    assert theirs.locator("[data-browser]").get_attribute("title") == FIREFOX_ON_WINDOWS
    with page.expect_navigation():
        theirs.locator("button[data-session-revoke]").click()
    assert page.locator("[data-sessions] li").count() == 1
    other_tab.goto(f"{issuer_a}/account/")
    assert "/t/acme/login" in other_tab.url  # that browser is signed out
    introspected = introspect(issuer_a, tokens["access_token"], world_a.web.application.client_id,
                              world_a.web.client_secret)
    assert introspected["active"] is True  # tokens of this browser's session live on

    sign_in(other_tab, "alice", PASSWORD)
    # Tokens whose browser session is already gone (it expired and was cleared): "everywhere"
    # covers them too, not only the tokens of the sessions it ends.
    orphan = full_flow(Browser(live_server.url), issuer_a, world_a)
    with tenant_context(world_a.tenant):
        from accounts.models import BrowserSession

        BrowserSession.objects.filter(user_agent__startswith="python-requests").delete()
    page.goto(f"{issuer_a}/account/")
    with page.expect_navigation():
        page.click("button[data-sign-out-everywhere]")
    assert page.locator("[data-signed-out-everywhere]").is_visible()
    refresh_refused(issuer_a, world_a, tokens["refresh_token"])
    refresh_refused(issuer_a, world_a, orphan["refresh_token"])
    assert introspect(issuer_a, tokens["access_token"], world_a.web.application.client_id,
                      world_a.web.client_secret) == {"active": False}
    for tab in (page, other_tab):
        tab.goto(f"{issuer_a}/account/")
        assert "/t/acme/login" in tab.url
    settle(other)
    other.close()


def test_consent_revoked_on_the_account_page(page, live_server, issuer_a, world_a):
    tokens = tokens_through(page, issuer_a, world_a)
    page.goto(f"{issuer_a}/account/")
    submit(page, "a[data-manage=applications]")
    consent = page.locator(f"[data-consent='{world_a.web.application.client_id}']")
    assert world_a.web.application.name in consent.inner_text()
    with page.expect_navigation():
        consent.locator("button[data-consent-revoke]").click()
    assert page.locator("[data-consent]").count() == 0
    refresh_refused(issuer_a, world_a, tokens["refresh_token"])
    assert introspect(issuer_a, tokens["access_token"], world_a.web.application.client_id,
                      world_a.web.client_secret) == {"active": False}
    # The next authorization asks again.
    url, _ = web_rp(issuer_a, world_a).authorization_url()
    page.goto(url)
    assert page.locator('button[name="allow"]').is_visible()


def test_self_registration_verifies_the_email_before_the_first_sign_in(page, live_server, issuer_a, world_a,
                                                                       mailoutbox):
    page.goto(f"{issuer_a}/login")
    assert page.locator("a[data-register]").count() == 0  # off by default
    update_policy(world_a.tenant, allow_self_registration=True)
    page.goto(f"{issuer_a}/login")
    submit(page, "a[data-register]")
    page.fill('input[name="username"]', "carol")
    page.fill('input[name="email"]', "carol@example.com")
    page.fill('input[name="password1"]', "carol")
    page.fill('input[name="password2"]', "carol")
    submit(page, "form[data-register] button[type=submit]")
    assert page.locator('input[aria-invalid="true"]').count() >= 1
    assert not mailoutbox
    page.fill('input[name="password1"]', NEW_PASSWORD)
    page.fill('input[name="password2"]', NEW_PASSWORD)
    submit(page, "form[data-register] button[type=submit]")
    assert page.locator("[data-register-sent]").is_visible()
    assert len(mailoutbox) == 1 and mailoutbox[0].to == ["carol@example.com"]

    # Registering an address that has an account: the same page; its owner is told instead.
    page.goto(f"{issuer_a}/register")
    page.fill('input[name="username"]', "mallory")
    page.fill('input[name="email"]', "alice@example.com")
    page.fill('input[name="password1"]', NEW_PASSWORD)
    page.fill('input[name="password2"]', NEW_PASSWORD)
    submit(page, "form[data-register] button[type=submit]")
    assert page.locator("[data-register-sent]").is_visible()
    assert mailoutbox[1].to == ["alice@example.com"] and "already has one" in mailoutbox[1].body

    page.goto(f"{issuer_a}/login")
    sign_in(page, "carol", NEW_PASSWORD)
    assert page.locator("[data-email-verification-needed]").is_visible()
    with page.expect_navigation():
        page.click("button[data-resend-verification]")
    assert len(mailoutbox) == 3 and mailoutbox[2].to == ["carol@example.com"]
    page.goto(link_in(mailoutbox[2], "/verify-email/"))
    assert page.locator("[data-email-verified-done]").is_visible()
    page.goto(link_in(mailoutbox[0], "/verify-email/"))  # the older link is spent with it
    assert page.locator("[data-link-invalid]").is_visible()
    page.goto(f"{issuer_a}/login")
    sign_in(page, "carol", NEW_PASSWORD)
    assert page.url.endswith("/t/acme/")
    with tenant_context(world_a.tenant):
        from django.contrib.auth import get_user_model

        carol = get_user_model().objects.get(username="carol")
        assert carol.email_verified and carol.self_registered


def test_a_new_email_is_verified_again_and_the_claims_say_so(page, live_server, issuer_a, world_a, mailoutbox):
    tokens = tokens_through(page, issuer_a, world_a)
    rp = web_rp(issuer_a, world_a)
    assert rp.verify_id_token(tokens["id_token"])["email_verified"] is True
    page.goto(f"{issuer_a}/account/profile")
    page.fill('input[name="email"]', "alice@new.example")
    submit(page, "form[data-profile] button[type=submit]")
    password = page.locator('input[name="password"]')
    assert password.get_attribute("aria-invalid") == "true" and not mailoutbox  # the password is asked
    page.fill('input[name="email"]', "alice@new.example")
    password.fill(PASSWORD)
    submit(page, "form[data-profile] button[type=submit]")
    assert page.locator("[data-profile-saved]").is_visible()
    assert mailoutbox[0].to == ["alice@new.example"]

    import requests

    def userinfo() -> dict:
        return requests.get(f"{issuer_a}/userinfo",
                            headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()

    assert userinfo()["email"] == "alice@new.example" and userinfo()["email_verified"] is False
    page.goto(f"{issuer_a}/account/")
    assert page.locator("[data-email-verified]").get_attribute("data-email-verified") == "false"
    page.goto(link_in(mailoutbox[0], "/verify-email/"))
    assert page.locator("[data-email-verified-done]").is_visible()
    assert userinfo()["email_verified"] is True
