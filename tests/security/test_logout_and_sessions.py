"""Sign-out and sessions from the attacker's side.

RP-Initiated Logout 1.0 §2: the OP signs out without asking only when the id_token_hint is
an ID token of the current session. An access token (``typ: at+jwt``), an audit checkpoint
or any other JWT the tenant signed is not an ID token; an old ID token of the same user,
found in a log or a browser history, ends the current session only after confirmation, so
a cross-site GET cannot. A session cookie of tenant A sent to tenant B (a client may send
any cookie to any path) neither authenticates there nor can be ended from there.
"""

from __future__ import annotations

import pytest
import requests

from accounts.services import create_user
from audit import checkpoints
from tenants.context import tenant_context
from tests.conftest import PASSWORD
from tests.oidc import Browser
from tests.security.flows import (
    assert_error_page,
    authorize_url,
    full_flow,
    introspect,
    location_params,
    sign_in,
    token_request,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _signed_in(browser: Browser, issuer: str, world) -> bool:
    """Whether the browser still has a session (a silent authorization does not ask for a
    login; it may still lack consent)."""
    url, _ = authorize_url(issuer, world.web.application.client_id, prompt="none")
    _, params = location_params(browser.http.get(url, allow_redirects=False))
    assert "code" in params or params.get("error") in ("login_required", "consent_required"), params
    return params.get("error") != "login_required"


def _logout(browser: Browser, issuer: str, hint: str) -> requests.Response:
    return browser.http.get(f"{issuer}/logout", params={
        "id_token_hint": hint, "post_logout_redirect_uri": "https://rp.example.test/bye"}, allow_redirects=False)


def test_an_access_token_is_not_an_id_token_hint(live_server, issuer_a, world_a):
    from idp.models import AccessTokenFormat

    with tenant_context(world_a.tenant):
        app = world_a.web.application
        app.access_token_format = AccessTokenFormat.JWT
        app.save(update_fields=["access_token_format"])  # save, not update(): evicts the lookup cache
    browser = Browser(live_server.url)
    tokens = full_flow(browser, issuer_a, world_a)
    assert tokens["access_token"].count(".") == 2  # an RFC 9068 JWT, signed by the same key
    assert_error_page(_logout(browser, issuer_a, tokens["access_token"]), 400)
    with tenant_context(world_a.tenant):
        checkpoint = checkpoints.write()
    assert_error_page(_logout(browser, issuer_a, checkpoint.jws), 400)
    assert _signed_in(browser, issuer_a, world_a)


def test_an_older_id_token_of_the_same_user_asks_before_signing_out(live_server, issuer_a, world_a):
    old = full_flow(Browser(live_server.url), issuer_a, world_a)["id_token"]  # another session of alice
    browser = Browser(live_server.url)
    current = full_flow(browser, issuer_a, world_a)
    response = _logout(browser, issuer_a, old)
    assert response.status_code == 200 and "Location" not in response.headers
    assert 'name="csrfmiddlewaretoken"' in response.text
    assert _signed_in(browser, issuer_a, world_a)
    assert introspect(issuer_a, current["access_token"], world_a.web.application.client_id,
                      world_a.web.client_secret)["active"] is True
    # The ID token of this very session signs out at once (the control).
    response = _logout(browser, issuer_a, current["id_token"])
    assert response.status_code == 302 and response.headers["Location"] == "https://rp.example.test/bye"
    assert not _signed_in(browser, issuer_a, world_a)


def test_another_users_id_token_asks_before_signing_out(live_server, issuer_a, world_a):
    with tenant_context(world_a.tenant):
        create_user(username="bob", email="bob@example.com", password=PASSWORD)
    alices = full_flow(Browser(live_server.url), issuer_a, world_a)["id_token"]
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a, "bob", PASSWORD)
    response = _logout(browser, issuer_a, alices)
    assert response.status_code == 200 and "Location" not in response.headers
    assert _signed_in(browser, issuer_a, world_a)


def test_a_session_of_a_presented_at_b_leaves_the_session_at_a_alone(live_server, issuer_a, issuer_b,
                                                                       world_a, world_b):
    """Signing in at B with A's cookie starts a fresh session at B; it must not load, flush
    or rebind A's session (on SQLite, where no row-level security hides A's row, only the
    session middleware's tenant binding stands in the way)."""
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a, "alice", PASSWORD)
    stolen = next(c.value for c in browser.http.cookies if c.name == "tessera_session")
    at_b = requests.Session()
    at_b.cookies.set("tessera_session", stolen, path="/t/globex/")
    page = at_b.get(f"{issuer_b}/login")
    token = page.text.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = at_b.post(f"{issuer_b}/login", data={"csrfmiddlewaretoken": token, "username": "alice",
                                                     "password": PASSWORD}, allow_redirects=False)
    assert response.status_code == 302
    assert response.cookies.get("tessera_session") not in (None, stolen)
    assert _signed_in(browser, issuer_a, world_a), "A's session was ended from B"
    home = requests.get(f"{issuer_a}/", cookies={"tessera_session": stolen})
    assert "alice" in home.text.lower()


def test_deactivated_users_tokens_are_dead_everywhere_at_once(live_server, issuer_a, world_a):
    from accounts.models import User
    from idp.models import AccessTokenFormat

    client_id, secret = world_a.web.application.client_id, world_a.web.client_secret
    opaque = full_flow(Browser(live_server.url), issuer_a, world_a)
    with tenant_context(world_a.tenant):
        app = world_a.web.application
        app.access_token_format = AccessTokenFormat.JWT
        app.save(update_fields=["access_token_format"])  # save, not update(): evicts the lookup cache
    jwt = full_flow(Browser(live_server.url), issuer_a, world_a)
    for tokens in (opaque, jwt):
        assert requests.get(f"{issuer_a}/userinfo",
                            headers={"Authorization": f"Bearer {tokens['access_token']}"}).status_code == 200
        assert introspect(issuer_a, tokens["access_token"], client_id, secret)["active"] is True
    with tenant_context(world_a.tenant):
        User.objects.filter(pk=world_a.user.pk).update(is_active=False)
    for tokens in (opaque, jwt):
        response = requests.get(f"{issuer_a}/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
        assert response.status_code == 401, response.text
        assert introspect(issuer_a, tokens["access_token"], client_id, secret) == {"active": False}
        assert introspect(issuer_a, tokens["refresh_token"], client_id, secret, "refresh_token") == {"active": False}
        response = token_request(issuer_a, {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
                                 client_id, secret)
        assert response.status_code == 400 and response.json()["error"] == "invalid_grant"


def test_the_middleware_refuses_a_session_bound_to_another_tenant_whatever_the_store(world_a, world_b, settings):
    """Two layers keep a session at its tenant: the session table is tenant-owned (the store
    finds only this tenant's rows), and the middleware ignores a session bound to another
    tenant. This checks the second alone, under a store that does not scope by tenant
    (Django's cache store), as a session backend swapped in a deployment would be."""
    from django.contrib.sessions.backends.cache import SessionStore as CacheStore
    from django.http import HttpResponse
    from django.test import RequestFactory

    from tenants.sessions import SESSION_TENANT_KEY, TenantSessionMiddleware

    stolen = CacheStore()
    stolen[SESSION_TENANT_KEY] = world_a.tenant.pk
    stolen["_auth_user_id"] = str(world_a.user.pk)
    stolen.save()
    middleware = TenantSessionMiddleware(lambda request: HttpResponse())
    middleware.SessionStore = CacheStore
    for world, kept in ((world_b, False), (world_a, True)):
        request = RequestFactory().get(f"/t/{world.tenant.slug}/account/")
        request.tenant = world.tenant
        request.COOKIES[settings.SESSION_COOKIE_NAME] = stolen.session_key
        middleware.process_request(request)
        assert (request.session.get("_auth_user_id") == str(world_a.user.pk)) is kept, world.tenant.slug
