"""A middleware stack per kind of endpoint (core.stacks, decision 70), from the outside: the back
channel runs without sessions, language, CSRF, authentication and messages, and still answers
every flow; the pages keep all of them, and run without CORS."""

from __future__ import annotations

import pytest
import requests
from django.core.management import call_command
from django.test import Client, RequestFactory

from core.stacks import BACK_CHANNEL_PATH, is_back_channel
from tests.oidc import Browser
from tests.security.flows import full_flow, sign_in, token_request

BACK_CHANNEL = ["/t/acme/token", "/t/acme/introspect", "/t/acme/revoke", "/t/acme/userinfo", "/t/acme/jwks.json",
                "/t/acme/.well-known/openid-configuration", "/t/acme/.well-known/oauth-authorization-server",
                "/t/acme//.well-known/openid-configuration", "/.well-known/openid-configuration/t/acme",
                "/.well-known/oauth-authorization-server/t/acme", "/healthz", "/readyz", "/metrics"]
PAGES = ["/t/acme/login", "/t/acme/authorize", "/t/acme/logout", "/t/acme/account/", "/t/acme/token/",
         "/t/acme/tokens", "/t/acme/token/x", "/t/acme/api/v1/users/", "/t/acme/admin/", "/admin/",
         "/static/tessera.css", "/t/acme/jwks.json/", "/t/acme/.well-known/openid-configuration/x",
         "/healthz/", "/xhealthz", "/t/acme/login?next=/t/acme/token"]


@pytest.mark.parametrize("path", BACK_CHANNEL)
def test_back_channel_paths_are_classified_as_such(path):
    assert is_back_channel(RequestFactory().get(path))


@pytest.mark.parametrize("path", PAGES)
def test_every_other_path_is_a_page(path):
    """Anything not exactly a back-channel endpoint keeps the full page stack (CSRF included)."""
    assert not is_back_channel(RequestFactory().get(path))
    assert BACK_CHANNEL_PATH.match(path.split("?")[0]) is None


def test_django_s_checks_still_find_the_middleware_they_require():
    """admin.E408-E410 and tessera.E010 look for these classes by type: the stack's
    subclasses count, and `check --deploy` stays clean of errors."""
    call_command("check", fail_level="ERROR")


@pytest.mark.django_db
def test_the_back_channel_sets_no_cookie_and_varies_on_nothing_a_session_would(live_server, world_a):
    issuer = f"{live_server.url}/t/acme"
    web = world_a.web
    response = token_request(issuer, {"grant_type": "client_credentials"}, web.application.client_id,
                             web.client_secret)
    assert response.status_code == 200, response.text
    assert "Set-Cookie" not in response.headers
    assert "cookie" not in response.headers.get("Vary", "").lower()
    assert "Content-Language" not in response.headers
    jwks = requests.get(f"{issuer}/jwks.json")
    assert jwks.status_code == 200 and "Set-Cookie" not in jwks.headers


@pytest.mark.django_db
def test_a_browser_session_does_not_authenticate_on_the_back_channel(live_server, world_a):
    """Attacker's side: a signed-in browser's cookies sent to userinfo are no credential."""
    issuer = f"{live_server.url}/t/acme"
    browser = Browser(live_server.url)
    assert sign_in(browser, issuer).status_code in (200, 302)
    assert any(cookie.name.endswith("session") for cookie in browser.http.cookies)
    response = browser.http.get(f"{issuer}/userinfo")
    assert response.status_code == 401
    assert "Set-Cookie" not in response.headers


@pytest.mark.django_db
def test_the_whole_code_flow_still_works_across_both_stacks(live_server, world_a):
    issuer = f"{live_server.url}/t/acme"
    tokens = full_flow(Browser(live_server.url), issuer, world_a)
    userinfo = requests.get(f"{issuer}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 200 and userinfo.json()["sub"]


@pytest.mark.django_db
def test_pages_keep_csrf_sessions_and_language(world_a):
    client = Client(enforce_csrf_checks=True)
    page = client.get("/t/acme/login", HTTP_ACCEPT_LANGUAGE="de")
    assert page.status_code == 200
    assert page["Content-Language"] == "de"
    assert any("csrf" in name for name in page.cookies)
    forged = client.post("/t/acme/login", {"username": "alice", "password": "x"})
    assert forged.status_code == 403
    # The consent and sign-out forms too (each page view is also csrf_protect-ed itself).
    for path in ("/t/acme/authorize", "/t/acme/logout"):
        assert client.post(path, {"allow": "1"}).status_code == 403, path


@pytest.mark.django_db
def test_a_page_with_a_registered_origin_gets_no_cors_headers(world_a):
    response = Client().get("/t/acme/login", HTTP_ORIGIN="https://rp.example.test")
    assert "Access-Control-Allow-Origin" not in response
