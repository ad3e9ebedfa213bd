"""The authorization endpoint from the attacker's side: redirect URI matching and PKCE policy.

RFC 6749 §4.1.2.1 / RFC 9700 §4.1: an invalid client or redirect URI is shown to the person and
never redirected. RFC 9700 §2.1.1 / OAuth 2.1: PKCE with S256 only, refused before any login.
"""

from __future__ import annotations

import pytest
import requests

from tests.conftest import NATIVE_REDIRECT, PASSWORD, WEB_REDIRECT
from tests.oidc import CSRF_RE, Browser
from tests.security.flows import (
    assert_error_page,
    authorize_url,
    location_params,
    obtain_code,
    sign_in,
)

pytestmark = pytest.mark.django_db(transaction=True)

BAD_WEB_REDIRECTS = [
    WEB_REDIRECT + "/",  # trailing slash
    WEB_REDIRECT + "?x=1",  # extra query
    WEB_REDIRECT + "?",  # empty query
    WEB_REDIRECT.replace("/callback", "/Callback"),
    WEB_REDIRECT.replace("/callback", "/callback/../evil"),
    WEB_REDIRECT.replace("https://", "http://"),  # downgrade
    WEB_REDIRECT.replace("rp.example.test", "rp.example.test.evil.example"),
    WEB_REDIRECT.replace("rp.example.test", "rp.example.test:8443"),
    WEB_REDIRECT.replace("https://", "https://evil.example@"),
    "https://evil.example/callback",
    "//evil.example/callback",
    "javascript:alert(1)",
]

BAD_NATIVE_REDIRECTS = [
    NATIVE_REDIRECT + "/",
    NATIVE_REDIRECT + "?x=1",
    NATIVE_REDIRECT.replace("127.0.0.1", "localhost"),
    NATIVE_REDIRECT.replace("127.0.0.1", "127.0.0.1.evil.example"),
    NATIVE_REDIRECT.replace("http://", "https://evil.example/?"),
    NATIVE_REDIRECT.replace("/callback", "/other"),
]


def csrf_token(issuer: str, session: requests.Session) -> str:
    """A valid CSRF token for ``session`` (from the tenant's login form)."""
    match = CSRF_RE.search(session.get(f"{issuer}/login").text)
    assert match
    return match.group(1)


def consent_post(issuer: str, session: requests.Session, url: str) -> requests.Response:
    """POST an "allow" decision to an authorization URL, as the consent form would."""
    data = {"csrfmiddlewaretoken": csrf_token(issuer, session), "allow": "1"}
    return session.post(url, data=data, allow_redirects=False)


def _never_redirects(issuer: str, session: requests.Session, client_id: str, redirect_uri: str | None) -> None:
    omit = ("redirect_uri",) if redirect_uri is None else ()
    url, _ = authorize_url(issuer, client_id, redirect_uri or "", omit=omit)
    assert_error_page(session.get(url, allow_redirects=False), 400)
    # The consent decision (POST) is the other way in: it must not redirect either.
    assert_error_page(consent_post(issuer, session, url), 400)


@pytest.mark.parametrize("redirect_uri", BAD_WEB_REDIRECTS)
def test_unregistered_redirect_uri_is_an_error_page_before_and_after_sign_in(live_server, issuer_a, world_a,
                                                                            redirect_uri):
    client_id = world_a.web.application.client_id
    browser = Browser(live_server.url)
    _never_redirects(issuer_a, browser.http, client_id, redirect_uri)

    sign_in(browser, issuer_a)
    obtain_code(browser, issuer_a, client_id)  # signed in and consented: a good request gets a code
    _never_redirects(issuer_a, browser.http, client_id, redirect_uri)


@pytest.mark.parametrize("redirect_uri", BAD_NATIVE_REDIRECTS)
def test_unregistered_loopback_redirect_is_an_error_page(live_server, issuer_a, world_a, redirect_uri):
    client_id = world_a.spa.application.client_id
    browser = Browser(live_server.url)
    _never_redirects(issuer_a, browser.http, client_id, redirect_uri)
    obtain_code(browser, issuer_a, client_id, NATIVE_REDIRECT)
    _never_redirects(issuer_a, browser.http, client_id, redirect_uri)


@pytest.mark.parametrize("client_id", ["no-such-client", "", " ", "x" * 300])
def test_unknown_client_id_is_an_error_page_before_and_after_sign_in(live_server, issuer_a, world_a, client_id):
    browser = Browser(live_server.url)
    _never_redirects(issuer_a, browser.http, client_id, WEB_REDIRECT)
    sign_in(browser, issuer_a)
    _never_redirects(issuer_a, browser.http, client_id, WEB_REDIRECT)


def test_missing_client_id_is_an_error_page(live_server, issuer_a, world_a):
    url, _ = authorize_url(issuer_a, "", omit=("client_id",))
    assert_error_page(requests.get(url, allow_redirects=False), 400)


def test_first_party_redirect_uri_is_not_usable_by_a_client_that_did_not_register_it(
    live_server, issuer_a, world_a
):
    # The native client never registered the web callback, even though another client did.
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a)
    _never_redirects(issuer_a, browser.http, world_a.spa.application.client_id, WEB_REDIRECT)


# --- PKCE -------------------------------------------------------------------------------------

PKCE_VIOLATIONS = {
    "no code_challenge": ({}, ("code_challenge", "code_challenge_method")),
    "no code_challenge, S256 method": ({}, ("code_challenge",)),
    "plain method": ({"code_challenge_method": "plain"}, ()),
    "no method (defaults to plain)": ({}, ("code_challenge_method",)),
    "lower-case s256": ({"code_challenge_method": "s256"}, ()),
    "unknown method": ({"code_challenge_method": "S512"}, ()),
}


def _assert_pkce_refused(response: requests.Response, issuer: str, request: dict, redirect_uri: str) -> None:
    target, params = location_params(response)
    assert target == redirect_uri, f"went to {response.headers['Location']}, not back to the client"
    assert "/login" not in response.headers["Location"]
    assert params.get("error") == "invalid_request", params
    assert params.get("state") == request["state"], params
    assert params.get("iss") == issuer, params
    assert "code" not in params, params


@pytest.mark.parametrize("case", list(PKCE_VIOLATIONS))
def test_pkce_violation_is_refused_before_login(live_server, issuer_a, world_a, case):
    overrides, omit = PKCE_VIOLATIONS[case]
    for client, redirect_uri in ((world_a.web, WEB_REDIRECT), (world_a.spa, NATIVE_REDIRECT)):
        url, request = authorize_url(issuer_a, client.application.client_id, redirect_uri,
                                     omit=omit, **overrides)
        response = requests.get(url, allow_redirects=False)
        _assert_pkce_refused(response, issuer_a, request, redirect_uri)


@pytest.mark.parametrize("case", list(PKCE_VIOLATIONS))
def test_pkce_violation_is_refused_for_a_signed_in_user_without_issuing_a_code(live_server, issuer_a, world_a,
                                                                              case):
    overrides, omit = PKCE_VIOLATIONS[case]
    client_id = world_a.web.application.client_id
    browser = Browser(live_server.url)
    obtain_code(browser, issuer_a, client_id)  # signed in, consent recorded
    url, request = authorize_url(issuer_a, client_id, omit=omit, **overrides)
    _assert_pkce_refused(browser.http.get(url, allow_redirects=False), issuer_a, request, WEB_REDIRECT)
    # Nor through the consent form's POST.
    _assert_pkce_refused(consent_post(issuer_a, browser.http, url), issuer_a, request, WEB_REDIRECT)


def test_pkce_error_redirect_without_state_has_no_state(live_server, issuer_a, world_a):
    url, _ = authorize_url(issuer_a, world_a.web.application.client_id, omit=("state", "code_challenge"))
    target, params = location_params(requests.get(url, allow_redirects=False))
    assert target == WEB_REDIRECT
    assert params["error"] == "invalid_request" and "state" not in params and params["iss"] == issuer_a


# --- the consent decision ---------------------------------------------------------------------

def test_consent_decision_without_csrf_token_is_refused(live_server, issuer_a, world_a):
    # A cross-site form post of "allow" must not mint a code for the victim's session.
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a)
    url, _ = authorize_url(issuer_a, world_a.web.application.client_id)
    page = browser.http.get(url, allow_redirects=False)
    assert 'name="allow"' in page.text, "expected the consent page"
    response = browser.http.post(url, data={"allow": "1"}, allow_redirects=False)
    assert response.status_code == 403 and "Location" not in response.headers
    # The legitimate decision, with the token, does go through.
    target, params = location_params(consent_post(issuer_a, browser.http, url))
    assert target == WEB_REDIRECT and "code" in params


def test_login_and_consent_pages_cannot_be_framed(live_server, issuer_a, world_a):
    browser = Browser(live_server.url)
    url, _ = authorize_url(issuer_a, world_a.web.application.client_id)
    login = browser.go(url)
    assert 'name="username"' in login.text
    consent = browser.login(login, "alice", PASSWORD)
    assert 'name="allow"' in consent.text
    for page in (login, consent):
        csp = page.headers.get("Content-Security-Policy", "")
        assert page.headers.get("X-Frame-Options") == "DENY" or "frame-ancestors 'none'" in csp, page.headers
