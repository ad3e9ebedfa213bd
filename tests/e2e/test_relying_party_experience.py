"""What a relying-party team meets when its integration goes wrong, and the small things that
made a Django app's integration take half a day: the operator sees why (an audit event and a
log line for every refusal), the page says what does not match, a refused logout can still
end the session, each tenant has its own CSRF cookie, claims are not sent empty, and the
discovery document answers HEAD and a trailing-slash issuer."""

from __future__ import annotations

import logging
import re

import pytest
import requests

from accounts.services import create_user
from audit.models import Action, AuditEvent
from idp import keys
from tenants.context import tenant_context
from tests.conftest import PASSWORD, WEB_REDIRECT
from tests.oidc import Browser, redirect_params
from tests.security.flows import authorize_url, full_flow, location_params, sign_in, token_request

pytestmark = pytest.mark.django_db(transaction=True)


def _events(world, action: str) -> list[AuditEvent]:
    with tenant_context(world.tenant):
        return list(AuditEvent.objects.filter(action=action).order_by("seq"))


def test_a_request_without_pkce_is_refused_and_the_operator_sees_why(live_server, issuer_a, world_a, caplog):
    """mozilla-django-oidc and django-allauth have PKCE off by default and swallow the error
    at their callback: the operator must see it in the audit trail and the log."""
    caplog.set_level(logging.WARNING, logger="tessera.idp")
    client_id = world_a.web.application.client_id
    url, _ = authorize_url(issuer_a, client_id, omit=("code_challenge", "code_challenge_method"))
    target, params = location_params(Browser(live_server.url).http.get(url, allow_redirects=False))
    assert target == WEB_REDIRECT and params["error"] == "invalid_request"
    [event] = _events(world_a, Action.AUTHORIZATION_REFUSED)
    assert event.actor_id == client_id and event.outcome == "failure"
    assert event.details["error"] == "invalid_request" and "challenge" in event.details["description"].lower()
    assert event.details["redirect_uri"] == WEB_REDIRECT and event.details["redirected"] is True
    assert any(client_id in r.getMessage() and "challenge" in r.getMessage().lower() for r in caplog.records)


@pytest.mark.parametrize("received", [WEB_REDIRECT + "/", WEB_REDIRECT.replace("https://rp.example.test",
                                                                                  "https://localhost")])
def test_a_redirect_uri_mismatch_names_the_client_and_the_uri(live_server, issuer_a, world_a, received):
    url, _ = authorize_url(issuer_a, world_a.web.application.client_id, received)
    response = Browser(live_server.url).http.get(url, allow_redirects=False)
    assert response.status_code == 400 and "Location" not in response.headers
    page = response.text
    assert received in page and world_a.web.application.client_id in page and "Acme Corp Web" in page
    assert "matches none of its registered redirect URIs" in page
    [event] = _events(world_a, Action.AUTHORIZATION_REFUSED)
    assert event.details["redirect_uri"] == received and event.details["redirected"] is False


def test_an_unknown_client_id_is_named_on_the_page(live_server, issuer_a, world_a):
    url, _ = authorize_url(issuer_a, "no-such-client")
    response = Browser(live_server.url).http.get(url, allow_redirects=False)
    assert response.status_code == 400 and "no-such-client" in response.text
    [event] = _events(world_a, Action.AUTHORIZATION_REFUSED)
    assert event.target_id == "no-such-client" and event.details["client_known"] is False


def test_silent_checks_are_not_refusals(live_server, issuer_a, world_a):
    url, _ = authorize_url(issuer_a, world_a.web.application.client_id, prompt="none")
    _, params = location_params(Browser(live_server.url).http.get(url, allow_redirects=False))
    assert params["error"] == "login_required"
    assert _events(world_a, Action.AUTHORIZATION_REFUSED) == []


def test_invalid_client_says_why_and_is_audited(live_server, issuer_a, world_a):
    client_id = world_a.web.application.client_id
    for data, secret in (({"grant_type": "client_credentials"}, "wrong-secret"),
                         ({"grant_type": "client_credentials"}, None)):
        response = token_request(issuer_a, data, client_id, secret, auth="basic" if secret else "none")
        body = response.json()
        assert response.status_code == 401 and body["error"] == "invalid_client"
        assert "secret is wrong or missing" in body["error_description"]
    events = _events(world_a, Action.CLIENT_AUTHENTICATION_FAILED)
    assert [e.details["method"] for e in events][:1] == ["client_secret_basic"] and len(events) == 2
    assert all(e.target_id == client_id and "wrong-secret" not in str(e.details) for e in events)


def test_a_refused_logout_still_offers_to_sign_out_here(live_server, issuer_a, world_a):
    """The app has already signed the person out locally; keeping Tessera's session would sign
    them straight back in on their next visit."""
    browser = Browser(live_server.url)
    full_flow(browser, issuer_a, world_a)
    page = browser.http.get(f"{issuer_a}/logout", params={
        "client_id": world_a.web.application.client_id,
        "post_logout_redirect_uri": "https://rp.example.test/not-registered"}, allow_redirects=False)
    assert page.status_code == 400 and "Location" not in page.headers
    assert "https://rp.example.test/not-registered" in page.text and "data-logout-anyway" in page.text
    [event] = _events(world_a, Action.LOGOUT_REFUSED)
    assert event.details["post_logout_redirect_uri"] == "https://rp.example.test/not-registered"
    done = browser.submit(page, {"confirm": "1"})
    assert done.status_code == 200 and "Location" not in done.headers
    url, _ = authorize_url(issuer_a, world_a.web.application.client_id, prompt="none")
    assert redirect_params(browser.http.get(url, allow_redirects=False))["error"] == "login_required"


def test_each_tenant_has_its_own_csrf_cookie(live_server, issuer_a, issuer_b, world_a, world_b):
    """A sign-in form left open at tenant A still works after signing in at tenant B, and
    Tessera's cookie never collides with an app's own ``csrftoken`` on the same host."""
    browser = Browser(live_server.url)
    form_a = browser.go(f"{issuer_a}/login")
    sign_in(browser, issuer_b)  # rotates B's token, not A's
    cookies = {(c.name, c.path) for c in browser.http.cookies if "csrf" in c.name}
    assert cookies == {("tessera_csrf", "/t/acme/"), ("tessera_csrf", "/t/globex/")}, cookies
    browser.http.cookies.set("csrftoken", "the-apps-own", path="/")  # the relying party's, same host
    response = browser.login(form_a, "alice", PASSWORD)
    assert "This form has expired" not in response.text and 'name="password"' not in response.text


def test_claims_come_from_the_profile_and_empty_ones_are_left_out(live_server, issuer_a, world_a):
    with tenant_context(world_a.tenant):
        create_user(username="bob", email="", password=PASSWORD)
        bob = create_user(username="carol", email="carol@example.com", password=PASSWORD,
                          first_name="Carol", last_name="Danvers")
    browser = Browser(live_server.url)
    tokens = full_flow(browser, issuer_a, world_a)  # alice: first and last name set
    info = requests.get(f"{issuer_a}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert (info["name"], info["given_name"], info["family_name"]) == ("Alice Liddell", "Alice", "Liddell")
    # A user without names or email: no empty strings, no email_verified without an email.
    other = Browser(live_server.url)
    url, request = authorize_url(issuer_a, world_a.first_party.application.client_id)
    response = other.login(other.go(url), "bob", PASSWORD)
    code = redirect_params(response)["code"]
    tokens = token_request(issuer_a, {"grant_type": "authorization_code", "code": code,
                                      "redirect_uri": WEB_REDIRECT, "code_verifier": request["code_verifier"]},
                           world_a.first_party.application.client_id, world_a.first_party.client_secret).json()
    info = requests.get(f"{issuer_a}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"}).json()
    assert info["name"] == "bob" and "given_name" not in info and "family_name" not in info
    assert "email" not in info and "email_verified" not in info
    assert all(value != "" for value in info.values())
    # updated_at is the profile's last change, not the account's creation.
    with tenant_context(world_a.tenant):
        created = bob.updated
        bob.first_name = "Carol J."
        bob.save()
        assert bob.updated > created and bob.updated > bob.date_joined


def test_discovery_and_jwks_answer_head_and_a_trailing_slash_issuer(live_server, issuer_a, world_a):
    for path in ("/.well-known/openid-configuration", "/jwks.json"):
        head = requests.head(f"{issuer_a}{path}")
        assert head.status_code == 200 and head.headers["Content-Type"].startswith("application/json"), path
    doubled = requests.get(f"{issuer_a}//.well-known/openid-configuration")
    assert doubled.status_code == 200 and doubled.json()["issuer"] == issuer_a
    assert re.fullmatch(r".*/t/acme", doubled.json()["issuer"])


def test_jwks_and_discovery_are_cacheable_and_revalidate_with_304(live_server, issuer_a, issuer_b, world_a):
    """A relying party caches the JWKS for max-age and revalidates it with If-None-Match; a
    new key changes the ETag, so the next revalidation gets the new set."""
    for path in ("/jwks.json", "/.well-known/openid-configuration"):
        first = requests.get(f"{issuer_a}{path}")
        assert first.headers["Cache-Control"] == "public, max-age=300"
        etag = first.headers["ETag"]
        assert re.fullmatch(r'"[0-9a-f]{32}"', etag)
        again = requests.get(f"{issuer_a}{path}", headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == etag and again.headers["Cache-Control"] == "public, max-age=300"
        assert again.headers["Access-Control-Allow-Origin"] == "*"
        assert requests.get(f"{issuer_a}{path}", headers={"If-None-Match": '"stale"'}).status_code == 200
        # Another tenant's document is another document.
        assert requests.get(f"{issuer_b}{path}", headers={"If-None-Match": etag}).status_code == 200

    etag = requests.get(f"{issuer_a}/jwks.json").headers["ETag"]
    with tenant_context(world_a.tenant):
        new = keys.create_signing_key("ES256")  # published as "next"
    keys.published_keys.clear()
    changed = requests.get(f"{issuer_a}/jwks.json", headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert new.kid in {k["kid"] for k in changed.json()["keys"]}
