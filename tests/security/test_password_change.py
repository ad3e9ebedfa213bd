"""Changing the password on {issuer}/account/password: the current password is asked for, the
validators (the tenant's minimum length among them) speak on the page, and afterwards every
token the user held is worthless and every other session has ended."""

from __future__ import annotations

import re

import pytest

from audit.models import AuditEvent
from tenants.context import tenant_context
from tenants.services import update_policy
from tests.conftest import PASSWORD
from tests.oidc import Browser
from tests.security.flows import assert_oauth_error, full_flow, introspect, refresh, sign_in

pytestmark = pytest.mark.django_db(transaction=True)
NEW = "a-different-passphrase-77"


def change(browser: Browser, issuer: str, old: str, new: str, again: str | None = None):
    page = browser.go(f"{issuer}/account/password")
    assert 'name="old_password"' in page.text, page.url
    return browser.submit(page, {"old_password": old, "new_password1": new, "new_password2": again or new})


def errors(page) -> list[str]:
    """The messages in the error blocks tied to their fields (templates/accounts/_field.html)."""
    blocks = re.findall(r'class="error" role="alert"[^>]*>(.*?)</div>', page.text, re.S)
    return [m.strip() for block in blocks for m in re.findall(r"<p>([^<]+)</p>", block) or [block]]


def test_the_current_password_is_required(live_server, issuer_a, world_a):
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a)
    refused = change(browser, issuer_a, "not-my-password", NEW)
    assert refused.status_code == 400
    assert any("old password was entered incorrectly" in e for e in errors(refused))
    assert "Signed in" in sign_in(Browser(live_server.url), issuer_a).text  # the old one still works


def test_the_validators_messages_appear_on_the_page(live_server, issuer_a, world_a):
    update_policy(world_a.tenant, password_min_length=30)
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a)
    page = change(browser, issuer_a, PASSWORD, "password1234")
    text = " ".join(errors(page))
    assert "at least 30 characters" in text and "too common" in text
    assert "at least 30 characters" in page.text.split("data-password-changed")[0]  # the help text too
    update_policy(world_a.tenant, password_min_length=12)
    page = change(browser, issuer_a, PASSWORD, "alice@example.com!")
    assert "too similar to the email" in " ".join(errors(page))
    page = change(browser, issuer_a, PASSWORD, NEW + "-and-more-words", NEW + "-typo")
    assert "didn’t match" in " ".join(errors(page)) or "didn't match" in " ".join(errors(page))


def test_a_change_revokes_every_token_and_ends_the_other_sessions(live_server, issuer_a, world_a):
    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    other = Browser(live_server.url)
    sign_in(other, issuer_a)
    assert "Signed in" in other.go(f"{issuer_a}/").text

    browser = Browser(live_server.url)
    sign_in(browser, issuer_a)
    done = change(browser, issuer_a, PASSWORD, NEW)
    assert "data-password-changed" in done.text

    assert introspect(issuer_a, tokens["access_token"], client_id, secret)["active"] is False
    assert_oauth_error(refresh(issuer_a, tokens["refresh_token"], client_id, secret), "invalid_grant")
    assert "Not signed in" in other.go(f"{issuer_a}/").text  # the other session ended
    assert "Signed in" in browser.go(f"{issuer_a}/").text  # this one stays
    assert "Signed in" not in sign_in(Browser(live_server.url), issuer_a).text  # old password: refused
    assert "Signed in" in sign_in(Browser(live_server.url), issuer_a, password=NEW).text
    with tenant_context(world_a.tenant):
        assert AuditEvent.objects.filter(action="user.password_changed").count() == 1
        revoked = AuditEvent.objects.filter(action="token.revoked", details__reason="password changed").get()
        trail = " ".join(str(e.details) for e in AuditEvent.objects.all())
    assert revoked.details["families"]
    assert NEW not in trail and PASSWORD not in trail


def test_the_page_needs_a_signed_in_session(live_server, issuer_a, world_a):
    page = Browser(live_server.url).go(f"{issuer_a}/account/password")
    assert 'name="username"' in page.text
