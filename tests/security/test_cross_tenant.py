"""Tenant isolation from the attacker's side: everything tenant A issued is worthless at tenant B.

Two tenants (acme, globex) on one live server, each with the same user name and password, so any
success at the wrong tenant can only come from a leak across the boundary.
"""

from __future__ import annotations

import base64
import json

import pytest
import requests

from accounts.services import create_user
from tenants.context import tenant_context
from tests.conftest import PASSWORD, WEB_REDIRECT
from tests.oidc import Browser
from tests.security.flows import (
    assert_error_page,
    assert_oauth_error,
    authorize_url,
    exchange,
    full_flow,
    introspect,
    location_params,
    obtain_code,
    refresh,
    sign_in,
    token_request,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _creds(world) -> tuple[str, str]:
    return world.web.application.client_id, world.web.client_secret


def _userinfo(issuer: str, access_token: str) -> requests.Response:
    return requests.get(f"{issuer}/userinfo", headers={"Authorization": f"Bearer {access_token}"})


def test_client_of_a_at_b_authorize_is_an_error_page(live_server, issuer_a, issuer_b, world_a, world_b):
    browser = Browser(live_server.url)
    url, _ = authorize_url(issuer_b, world_a.web.application.client_id)
    assert_error_page(browser.http.get(url, allow_redirects=False), 400)
    obtain_code(browser, issuer_b, world_b.web.application.client_id)  # signed in and consented at B
    assert_error_page(browser.http.get(url, allow_redirects=False), 400)


def test_code_of_a_exchanged_at_b(live_server, issuer_a, issuer_b, world_a, world_b):
    client_id, secret = _creds(world_a)
    code, request = obtain_code(Browser(live_server.url), issuer_a, client_id)
    # With A's client credentials: that client does not exist at B.
    for auth in ("basic", "post"):
        assert_oauth_error(exchange(issuer_b, code, request, client_id, secret, auth=auth), "invalid_client", 401)
    # With B's own client: B never issued that code.
    b_id, b_secret = _creds(world_b)
    assert_oauth_error(exchange(issuer_b, code, request, b_id, b_secret), "invalid_grant", 400)
    # None of that touched the code at A.
    assert exchange(issuer_a, code, request, client_id, secret).status_code == 200


def test_access_token_of_a_is_rejected_at_b_userinfo(live_server, issuer_a, issuer_b, world_a, world_b):
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    assert _userinfo(issuer_a, tokens["access_token"]).status_code == 200
    response = _userinfo(issuer_b, tokens["access_token"])
    assert response.status_code == 401, response.text
    assert "Bearer" in response.headers.get("WWW-Authenticate", "")
    assert "alice" not in response.text


def test_tokens_of_a_are_inactive_when_introspected_at_b(live_server, issuer_a, issuer_b, world_a, world_b):
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    b_id, b_secret = _creds(world_b)
    for token, hint in ((tokens["access_token"], None), (tokens["access_token"], "access_token"),
                        (tokens["refresh_token"], None), (tokens["refresh_token"], "refresh_token")):
        assert introspect(issuer_b, token, b_id, b_secret, hint) == {"active": False}
    # And A's client cannot even authenticate to B's introspection endpoint.
    a_id, a_secret = _creds(world_a)
    response = requests.post(f"{issuer_b}/introspect", data={"token": tokens["access_token"]},
                             auth=(a_id, a_secret))
    assert_oauth_error(response, "invalid_client", 401)
    assert introspect(issuer_a, tokens["access_token"], a_id, a_secret)["active"] is True


def test_client_credentials_token_of_a_is_inactive_at_b(live_server, issuer_a, issuer_b, world_a, world_b):
    a_id, a_secret = _creds(world_a)
    token = token_request(issuer_a, {"grant_type": "client_credentials"}, a_id, a_secret).json()["access_token"]
    b_id, b_secret = _creds(world_b)
    assert introspect(issuer_b, token, b_id, b_secret) == {"active": False}
    assert introspect(issuer_a, token, a_id, a_secret)["active"] is True


def test_refresh_token_of_a_fails_at_b_and_stays_usable_at_a(live_server, issuer_a, issuer_b, world_a, world_b):
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    a_id, a_secret = _creds(world_a)
    b_id, b_secret = _creds(world_b)
    assert_oauth_error(refresh(issuer_b, tokens["refresh_token"], a_id, a_secret), "invalid_client", 401)
    assert_oauth_error(refresh(issuer_b, tokens["refresh_token"], b_id, b_secret), "invalid_grant", 400)
    # A failed replay at B must not count as reuse at A (which would revoke the family).
    again = refresh(issuer_a, tokens["refresh_token"], a_id, a_secret)
    assert again.status_code == 200, again.text


@pytest.mark.parametrize("which", ["access_token", "refresh_token"])
def test_revoking_a_token_of_a_at_b_leaves_it_active_at_a(live_server, issuer_a, issuer_b, world_a, world_b,
                                                          which):
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    a_id, a_secret = _creds(world_a)
    b_id, b_secret = _creds(world_b)
    for hint in (None, which):
        data = {"token": tokens[which], **({"token_type_hint": hint} if hint else {})}
        response = token_request(issuer_b, data, b_id, b_secret, endpoint="revoke")
        assert response.status_code == 200, response.text  # RFC 7009 §2.2: unknown tokens too
        # A's own credentials are unknown at B.
        assert_oauth_error(token_request(issuer_b, data, a_id, a_secret, endpoint="revoke"), "invalid_client", 401)
    assert introspect(issuer_a, tokens["access_token"], a_id, a_secret)["active"] is True
    assert introspect(issuer_a, tokens["refresh_token"], a_id, a_secret, "refresh_token")["active"] is True
    assert _userinfo(issuer_a, tokens["access_token"]).status_code == 200


def test_id_token_of_a_is_rejected_as_id_token_hint_at_b(live_server, issuer_a, issuer_b, world_a, world_b):
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    browser = Browser(live_server.url)
    obtain_code(browser, issuer_b, world_b.web.application.client_id)  # signed in at B
    for extra in ("", "&post_logout_redirect_uri=https://rp.example.test/bye&state=s1",
                  f"&client_id={world_a.web.application.client_id}",
                  f"&client_id={world_b.web.application.client_id}"):
        response = browser.http.get(f"{issuer_b}/logout?id_token_hint={tokens['id_token']}{extra}",
                                    allow_redirects=False)
        assert_error_page(response, 400)
    # B's session survived: a silent authorization at B still succeeds.
    url, _ = authorize_url(issuer_b, world_b.web.application.client_id, prompt="none")
    target, params = location_params(browser.http.get(url, allow_redirects=False))
    assert target == WEB_REDIRECT and "code" in params, params


def test_client_of_a_at_b_logout_is_an_error_page(live_server, issuer_a, issuer_b, world_a, world_b):
    browser = Browser(live_server.url)
    obtain_code(browser, issuer_b, world_b.web.application.client_id)
    params = {"client_id": world_a.web.application.client_id,
              "post_logout_redirect_uri": "https://rp.example.test/bye", "state": "s"}
    assert_error_page(browser.http.get(f"{issuer_b}/logout", params=params, allow_redirects=False), 400)


def _silent(issuer: str, world, cookie: str | None = None, session: requests.Session | None = None) -> dict:
    url, request = authorize_url(issuer, world.web.application.client_id, prompt="none")
    headers = {"Cookie": f"tessera_session={cookie}"} if cookie else {}
    response = (session or requests).get(url, headers=headers, allow_redirects=False)
    target, params = location_params(response)
    assert target == WEB_REDIRECT, response.headers["Location"]
    assert params.get("state") == request["state"]
    return params


def test_session_cookie_of_a_does_not_authenticate_at_b(live_server, issuer_a, issuer_b, world_a, world_b):
    browser = Browser(live_server.url)
    obtain_code(browser, issuer_a, world_a.web.application.client_id)
    # Consent at B exists too, so only authentication can be missing there.
    obtain_code(Browser(live_server.url), issuer_b, world_b.web.application.client_id)
    cookies = [c for c in browser.http.cookies if c.name == "tessera_session"]
    assert len(cookies) == 1 and cookies[0].path == "/t/acme/", [(c.name, c.path) for c in cookies]
    stolen = cookies[0].value

    assert "code" in _silent(issuer_a, world_a, cookie=stolen)  # the cookie itself is good at A
    at_b = _silent(issuer_b, world_b, cookie=stolen)  # deliberately sent to B
    assert at_b.get("error") == "login_required" and "code" not in at_b, at_b
    # Presenting it at B did not spoil it at A.
    assert "code" in _silent(issuer_a, world_a, cookie=stolen)


def test_one_browser_signed_in_at_a_and_b_at_the_same_time(live_server, issuer_a, issuer_b, world_a, world_b):
    browser = Browser(live_server.url)
    assert _silent(issuer_a, world_a, session=browser.http)["error"] == "login_required"
    obtain_code(browser, issuer_a, world_a.web.application.client_id)
    assert _silent(issuer_b, world_b, session=browser.http)["error"] == "login_required"
    obtain_code(browser, issuer_b, world_b.web.application.client_id)
    for issuer, world in ((issuer_a, world_a), (issuer_b, world_b), (issuer_a, world_a)):
        params = _silent(issuer, world, session=browser.http)
        assert "code" in params and params["iss"] == issuer, params
    paths = sorted(c.path for c in browser.http.cookies if c.name == "tessera_session")
    assert paths == ["/t/acme/", "/t/globex/"], paths


def test_user_of_a_cannot_sign_in_at_b(live_server, issuer_a, issuer_b, world_a, world_b):
    with tenant_context(world_a.tenant):
        create_user(username="bob", email="bob@acme.example", password=PASSWORD, email_verified=True)
    browser = Browser(live_server.url)
    response = sign_in(browser, issuer_b, "bob", PASSWORD)
    assert response.status_code == 200 and 'name="username"' in response.text
    assert "The username or password is not correct." in response.text
    response = sign_in(browser, issuer_b, "bob@acme.example", PASSWORD)
    assert 'name="username"' in response.text
    response = sign_in(Browser(live_server.url), issuer_a, "bob", PASSWORD)
    assert 'name="username"' not in response.text, "bob should be able to sign in at his own tenant"


def test_discovery_and_keys_of_b_show_nothing_of_a(live_server, issuer_a, issuer_b, world_a, world_b):
    docs = {issuer: requests.get(f"{issuer}/.well-known/openid-configuration").json()
            for issuer in (issuer_a, issuer_b)}
    for issuer, doc in docs.items():
        assert doc["issuer"] == issuer
        assert all(v.startswith(issuer) for k, v in doc.items() if k.endswith("_endpoint") or k == "jwks_uri")
    kids = {issuer: {k["kid"] for k in requests.get(f"{issuer}/jwks.json").json()["keys"]}
            for issuer in (issuer_a, issuer_b)}
    assert kids[issuer_a] and kids[issuer_b] and not kids[issuer_a] & kids[issuer_b]
    # An ID token of A does not verify against B's keys.
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    header = json.loads(base64.urlsafe_b64decode(tokens["id_token"].split(".")[0] + "=="))
    assert header["kid"] in kids[issuer_a] and header["kid"] not in kids[issuer_b]


def test_home_page_of_b_with_a_session_of_a_asks_to_sign_in(live_server, issuer_a, issuer_b, world_a, world_b):
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a, "alice", PASSWORD)
    stolen = next(c.value for c in browser.http.cookies if c.name == "tessera_session")
    home_a = requests.get(f"{issuer_a}/", cookies={"tessera_session": stolen})
    assert "alice" in home_a.text.lower()
    home_b = requests.get(f"{issuer_b}/", cookies={"tessera_session": stolen}, allow_redirects=False)
    assert "alice" not in home_b.text.lower() and "sign out" not in home_b.text.lower()


def _stolen_session(live_server, issuer_a) -> tuple[Browser, str]:
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a, "alice", PASSWORD)
    return browser, next(c.value for c in browser.http.cookies if c.name == "tessera_session")


def test_pending_sign_in_at_a_is_nothing_at_b(live_server, issuer_a, issuer_b, world_a, world_b):
    """Password done at A (which requires MFA): B's MFA and enrolment steps know of no sign-in."""
    from tenants.models import MFAPolicy
    from tenants.services import update_policy

    update_policy(world_a.tenant, mfa=MFAPolicy.REQUIRED)
    browser = Browser(live_server.url)
    enrol = sign_in(browser, issuer_a, "alice", PASSWORD)
    assert "/login/enrol" in enrol.url
    pending = next(c.value for c in browser.http.cookies if c.name == "tessera_session")
    for step in ("login/mfa", "login/enrol"):
        response = requests.get(f"{issuer_b}/{step}", cookies={"tessera_session": pending}, allow_redirects=False)
        assert response.status_code == 302 and "/t/globex/login" in response.headers["Location"], step


def test_account_pages_of_b_with_a_session_of_a_ask_to_sign_in(live_server, issuer_a, issuer_b, world_a, world_b):
    browser, stolen = _stolen_session(live_server, issuer_a)
    assert requests.get(f"{issuer_a}/account/", cookies={"tessera_session": stolen}).status_code == 200
    for page in ("account/", "account/step-up", "account/password", "account/totp", "account/recovery-codes",
                 "account/passkeys", "account/profile", "account/applications"):
        response = requests.get(f"{issuer_b}/{page}", cookies={"tessera_session": stolen}, allow_redirects=False)
        assert response.status_code == 302 and "/t/globex/login" in response.headers["Location"], page
    # Removing a factor at B with A's session and CSRF token: refused before anything is looked up.
    csrf = next(c.value for c in browser.http.cookies if c.name == "tessera_csrf")
    sid = _sid_of(world_a)
    for action in ("account/totp/00000000-0000-0000-0000-000000000000/delete", "account/passkeys/1/delete",
                   f"account/sessions/{sid}/revoke", "account/sign-out-everywhere", "account/applications/1/revoke"):
        response = requests.post(f"{issuer_b}/{action}", cookies={"tessera_session": stolen, "tessera_csrf": csrf},
                                 data={"csrfmiddlewaretoken": csrf}, allow_redirects=False)
        assert response.status_code in (302, 403), (action, response.status_code)
        assert "/t/acme/" not in response.headers.get("Location", "")
    # A's session lives on: nothing at B ended it.
    assert requests.get(f"{issuer_a}/account/", cookies={"tessera_session": stolen}).status_code == 200


def test_branding_of_b_wears_nothing_of_a(live_server, issuer_a, issuer_b, world_a, world_b):
    from tenants.models import Tenant

    Tenant.objects.filter(pk=world_a.tenant.pk).update(primary_color="#aa1100", display_name="Acme Brand")
    assert "#aa1100" in requests.get(f"{issuer_a}/branding.css").text
    sheet_b = requests.get(f"{issuer_b}/branding.css")
    assert sheet_b.status_code == 200 and "#aa1100" not in sheet_b.text
    login_b = requests.get(f"{issuer_b}/login").text
    assert "Acme Brand" not in login_b and "/t/acme/branding.css" not in login_b


def _sid_of(world) -> str:
    from accounts.models import BrowserSession

    with tenant_context(world.tenant):
        return BrowserSession.objects.exclude(sid="").values_list("sid", flat=True).first()


def _emailed_link(mailoutbox, marker: str) -> str:
    import re

    return next(m for m in re.findall(r"https?://\S+", mailoutbox[-1].body) if marker in m)


def test_reset_and_verification_links_of_a_do_nothing_at_b(live_server, issuer_a, issuer_b, world_a, world_b,
                                                           mailoutbox):
    """A's user asks B for a reset: B has no such address for them (same page, nothing sent).
    A's reset and verification links opened at B: refused, and the reset link still works at A."""
    http = requests.Session()
    http.get(f"{issuer_b}/password/reset/")
    with tenant_context(world_b.tenant):
        type(world_b.user).objects.filter(pk=world_b.user.pk).update(email="bob@globex.example")
    sent = http.post(f"{issuer_b}/password/reset/", data={"email": "alice@example.com",
                                                          "csrfmiddlewaretoken": http.cookies["tessera_csrf"]})
    assert sent.status_code == 200 and "data-password-reset-sent" in sent.text and not mailoutbox

    http_a = requests.Session()
    http_a.get(f"{issuer_a}/password/reset/")
    http_a.post(f"{issuer_a}/password/reset/", data={"email": "alice@example.com",
                                                     "csrfmiddlewaretoken": http_a.cookies["tessera_csrf"]})
    link = _emailed_link(mailoutbox, "/password/reset/")
    assert link.startswith(f"{issuer_a}/password/reset/")
    at_b = requests.get(link.replace("/t/acme/", "/t/globex/"), allow_redirects=False)
    assert at_b.status_code == 400 and "data-link-invalid" in at_b.text
    assert requests.get(link, allow_redirects=False).status_code == 302  # untouched at A

    from accounts import mail

    with tenant_context(world_a.tenant, base_url=live_server.url):
        from django.db import transaction

        with transaction.atomic():
            mail.send(world_a.user, "verify_email")
    verify = _emailed_link(mailoutbox, "/verify-email/")
    at_b = requests.get(verify.replace("/t/acme/", "/t/globex/"))
    assert at_b.status_code == 400 and "data-link-invalid" in at_b.text


def test_registration_and_resend_of_b_know_nothing_of_a(live_server, issuer_a, issuer_b, world_a, world_b,
                                                      mailoutbox):
    """Registration is off at B (the default): a readable refusal. The resend button at B with
    A's session sends nothing."""
    from tenants.services import update_policy

    update_policy(world_a.tenant, allow_self_registration=True)
    assert requests.get(f"{issuer_a}/register").status_code == 200
    assert requests.get(f"{issuer_b}/register").status_code == 403
    browser, stolen = _stolen_session(live_server, issuer_a)
    csrf = next(c.value for c in browser.http.cookies if c.name == "tessera_csrf")
    resend = requests.post(f"{issuer_b}/verify-email", cookies={"tessera_session": stolen, "tessera_csrf": csrf},
                           data={"csrfmiddlewaretoken": csrf}, allow_redirects=False)
    assert resend.status_code in (200, 403) and not mailoutbox


def test_passkey_ceremonies_of_b_know_nobody_of_a(live_server, issuer_a, issuer_b, world_a, world_b):
    browser, stolen = _stolen_session(live_server, issuer_a)
    http = requests.Session()
    page = http.get(f"{issuer_b}/login")
    csrf = http.cookies.get("tessera_csrf", path="/t/globex/")
    http.cookies.set("tessera_session", stolen, path="/t/globex/")
    headers = {"X-CSRFToken": csrf, "Accept": "application/json"}
    assert page.status_code == 200
    register = http.post(f"{issuer_b}/passkeys/register/begin", json={}, headers=headers)
    assert register.status_code == 403 and register.json()["code"] == "not_authenticated", register.text
    assert http.post(f"{issuer_b}/passkeys/register/complete", json={}, headers=headers).status_code == 403
    options = http.post(f"{issuer_b}/passkeys/authenticate/begin", json={}, headers=headers)
    assert options.status_code == 200 and options.json()["allowCredentials"] == []  # nobody named
    assert options.json()["userVerification"] == "required"
    done = http.post(f"{issuer_b}/passkeys/authenticate/complete", json={"id": "x"}, headers=headers)
    assert done.status_code in (400, 404, 422) and "redirect_url" not in done.text, done.text


# Every tenant endpoint and the tests above that attack it with A's session, tokens or clients
# at B. A new endpoint fails test_every_tenant_endpoint_is_in_the_matrix until it is added.
MATRIX = {
    "idp:openid-configuration": ["test_discovery_and_keys_of_b_show_nothing_of_a"],
    "idp:jwks": ["test_discovery_and_keys_of_b_show_nothing_of_a"],
    "idp:authorize": ["test_client_of_a_at_b_authorize_is_an_error_page",
                      "test_session_cookie_of_a_does_not_authenticate_at_b"],
    "idp:token": ["test_code_of_a_exchanged_at_b", "test_refresh_token_of_a_fails_at_b_and_stays_usable_at_a"],
    "idp:userinfo": ["test_access_token_of_a_is_rejected_at_b_userinfo"],
    "idp:revoke": ["test_revoking_a_token_of_a_at_b_leaves_it_active_at_a"],
    "idp:introspect": ["test_tokens_of_a_are_inactive_when_introspected_at_b",
                       "test_client_credentials_token_of_a_is_inactive_at_b"],
    "idp:logout": ["test_id_token_of_a_is_rejected_as_id_token_hint_at_b",
                   "test_client_of_a_at_b_logout_is_an_error_page"],
    "accounts:login": ["test_user_of_a_cannot_sign_in_at_b"],
    "accounts:home": ["test_home_page_of_b_with_a_session_of_a_asks_to_sign_in"],
    "accounts:mfa": ["test_pending_sign_in_at_a_is_nothing_at_b"],
    "accounts:enrol": ["test_pending_sign_in_at_a_is_nothing_at_b"],
    "accounts:account": ["test_account_pages_of_b_with_a_session_of_a_ask_to_sign_in"],
    "accounts:password": ["test_account_pages_of_b_with_a_session_of_a_ask_to_sign_in"],
    "accounts:step-up": ["test_account_pages_of_b_with_a_session_of_a_ask_to_sign_in"],
    "accounts:totp": ["test_account_pages_of_b_with_a_session_of_a_ask_to_sign_in"],
    "accounts:totp-delete": ["test_account_pages_of_b_with_a_session_of_a_ask_to_sign_in"],
    "accounts:recovery-codes": ["test_account_pages_of_b_with_a_session_of_a_ask_to_sign_in"],
    "accounts:passkeys": ["test_account_pages_of_b_with_a_session_of_a_ask_to_sign_in"],
    "accounts:passkey-delete": ["test_account_pages_of_b_with_a_session_of_a_ask_to_sign_in"],
    # Assertions signed for A's passkey at B: tests/browser/test_strong_authentication.py.
    "accounts:passkey-register-begin": ["test_passkey_ceremonies_of_b_know_nobody_of_a"],
    "accounts:passkey-register-complete": ["test_passkey_ceremonies_of_b_know_nobody_of_a"],
    "accounts:passkey-auth-begin": ["test_passkey_ceremonies_of_b_know_nobody_of_a"],
    "accounts:passkey-auth-complete": ["test_passkey_ceremonies_of_b_know_nobody_of_a"],
    "accounts:profile": ["test_account_pages_of_b_with_a_session_of_a_ask_to_sign_in"],
    "accounts:session-revoke": ["test_account_pages_of_b_with_a_session_of_a_ask_to_sign_in"],
    "accounts:sign-out-everywhere": ["test_account_pages_of_b_with_a_session_of_a_ask_to_sign_in"],
    "idp:applications": ["test_account_pages_of_b_with_a_session_of_a_ask_to_sign_in"],
    "idp:application-revoke": ["test_account_pages_of_b_with_a_session_of_a_ask_to_sign_in"],
    "accounts:password-reset": ["test_reset_and_verification_links_of_a_do_nothing_at_b"],
    "accounts:password-reset-confirm": ["test_reset_and_verification_links_of_a_do_nothing_at_b"],
    "accounts:verify-email": ["test_reset_and_verification_links_of_a_do_nothing_at_b"],
    "accounts:register": ["test_registration_and_resend_of_b_know_nothing_of_a"],
    "branding-css": ["test_branding_of_b_wears_nothing_of_a"],
    "accounts:verify-email-resend": ["test_registration_and_resend_of_b_know_nothing_of_a"],
}


def _tenant_endpoints() -> set[str]:
    from django.urls import URLPattern, URLResolver, get_resolver

    names: set[str] = set()

    def walk(patterns, namespace: str = "") -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver) and str(pattern.pattern) == "api/v1/":
                continue  # the admin API: every operation is in tests/api/test_isolation_matrix.py
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)

    tenant_root = next(p for p in get_resolver().url_patterns if str(p.pattern) == "t/<slug:tenant>/")
    walk(tenant_root.url_patterns)
    return names


@pytest.mark.django_db(transaction=False)
def test_every_tenant_endpoint_is_in_the_matrix():
    assert _tenant_endpoints() == set(MATRIX)
    for tests in MATRIX.values():
        for name in tests:
            assert callable(globals().get(name)), name
