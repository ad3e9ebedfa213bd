"""The authorization endpoint held to the letter: re-authentication bound to the flow,
id_token_hint honoured, loopback ports for native apps only, one value per parameter,
unsupported features refused instead of ignored (RFC 6749 §3.1, RFC 8252 §7.3 and §8.6,
OpenID Connect Core §3.1.2.1 and §6)."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from accounts.services import create_user
from idp.models import Application, ApplicationType
from tenants.context import tenant_context
from tests.conftest import NATIVE_REDIRECT, PASSWORD, WEB_REDIRECT
from tests.oidc import Browser
from tests.security.flows import (
    assert_error_page,
    authorize_url,
    exchange,
    full_flow,
    location_params,
    obtain_code,
    sign_in,
)

pytestmark = pytest.mark.django_db(transaction=True)


def _web(world) -> str:
    return world.web.application.client_id


# --- re-authentication ----------------------------------------------------------------------


@pytest.mark.parametrize("demand", [{"prompt": "login"}, {"max_age": "0"}])
def test_reopening_the_login_pages_next_with_the_old_session_asks_for_the_password(
        live_server, issuer_a, world_a, demand):
    """prompt=login and max_age are requirements of the flow: the login page's ``next``
    (the authorization URL) opened again without signing in must not return a code."""
    browser = Browser(live_server.url)
    obtain_code(browser, issuer_a, _web(world_a))  # signed in, consented
    url, _ = authorize_url(issuer_a, _web(world_a), **demand)
    first = browser.http.get(url, allow_redirects=False)
    assert "/login?" in first.headers["Location"], first.headers.get("Location")
    login_page = browser.http.get(f"{live_server.url}{first.headers['Location']}")
    next_url = login_page.text.split('name="next" value="')[1].split('"')[0].replace("&amp;", "&")
    reopened = browser.http.get(f"{live_server.url}{next_url}", allow_redirects=False)
    target = reopened.headers["Location"]
    assert "/login?" in target and "code=" not in target, target
    # Signing in satisfies it (and only then does a code come back).
    response = browser.login(browser.go(f"{live_server.url}{next_url}"), "alice", PASSWORD)
    _, params = location_params(response)
    assert "code" in params, params


def test_an_id_token_hint_for_someone_else_asks_for_a_sign_in(live_server, issuer_a, world_a):
    with tenant_context(world_a.tenant):
        create_user(username="bob", email="bob@example.com", password=PASSWORD)
    alices = full_flow(Browser(live_server.url), issuer_a, world_a)["id_token"]
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a, "bob", PASSWORD)
    url, _ = authorize_url(issuer_a, world_a.first_party.application.client_id, id_token_hint=alices,
                           prompt="none")
    _, params = location_params(browser.http.get(url, allow_redirects=False))
    assert params.get("error") == "login_required" and "code" not in params, params
    url, _ = authorize_url(issuer_a, world_a.first_party.application.client_id, id_token_hint=alices)
    response = browser.http.get(url, allow_redirects=False)
    assert "/login?" in response.headers["Location"], "bob was handed a code meant for alice's session"
    # Signing in as bob again: still not alice, so the relying party hears login_required.
    response = browser.login(browser.go(url), "bob", PASSWORD)
    _, params = location_params(response)
    assert params.get("error") == "login_required" and "code" not in params, params
    # The person signs in as alice (the relying party sent them back): the hint matches.
    sign_in(browser, issuer_a, "alice", PASSWORD)
    _, params = location_params(browser.http.get(url, allow_redirects=False))
    assert "code" in params, params


def test_an_invalid_id_token_hint_is_invalid_request(live_server, issuer_a, world_a):
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a)
    url, _ = authorize_url(issuer_a, world_a.first_party.application.client_id, id_token_hint="not.a.jwt")
    target, params = location_params(browser.http.get(url, allow_redirects=False))
    assert target == WEB_REDIRECT and params["error"] == "invalid_request", params


# --- loopback redirects ---------------------------------------------------------------------


def _set(application: Application, **fields) -> None:
    """Change a client as an operator would (save, which evicts the client lookup cache)."""
    for name, value in fields.items():
        setattr(application, name, value)
    application.save(update_fields=list(fields))


def test_loopback_on_another_port_only_for_native_apps(live_server, issuer_a, world_a):
    other_port = NATIVE_REDIRECT.replace("127.0.0.1", "127.0.0.1:53127")
    with tenant_context(world_a.tenant):
        _set(world_a.spa.application, application_type=ApplicationType.WEB)
    url, _ = authorize_url(issuer_a, world_a.spa.application.client_id, other_port)
    assert_error_page(Browser(live_server.url).http.get(url, allow_redirects=False), 400)
    with tenant_context(world_a.tenant):
        _set(world_a.spa.application, application_type=ApplicationType.NATIVE)
    browser = Browser(live_server.url)
    code, request = obtain_code(browser, issuer_a, world_a.spa.application.client_id, other_port)
    assert exchange(issuer_a, code, request, world_a.spa.application.client_id, None, auth="none").status_code == 200


def test_prompt_none_never_answers_silently_on_an_unregistered_port(live_server, issuer_a, world_a):
    """RFC 8252 §8.6: another app on the device can listen on any loopback port."""
    client_id = world_a.spa.application.client_id
    browser = Browser(live_server.url)
    obtain_code(browser, issuer_a, client_id, NATIVE_REDIRECT)  # signed in and consented
    url, _ = authorize_url(issuer_a, client_id, NATIVE_REDIRECT, prompt="none")
    _, params = location_params(browser.http.get(url, allow_redirects=False))
    assert "code" in params, params  # the registered URI: silent, as it should be
    other = NATIVE_REDIRECT.replace("127.0.0.1", "127.0.0.1:53127")
    url, _ = authorize_url(issuer_a, client_id, other, prompt="none")
    target, params = location_params(browser.http.get(url, allow_redirects=False))
    assert params.get("error") == "interaction_required" and "code" not in params, params


# --- one value per parameter, unsupported features refused ----------------------------------


@pytest.mark.parametrize("name", ["code_challenge", "nonce", "prompt", "max_age", "code_challenge_method",
                                  "login_hint", "response_mode"])
def test_a_repeated_parameter_is_invalid_request(live_server, issuer_a, world_a, name):
    url, params = authorize_url(issuer_a, _web(world_a))
    value = {"max_age": "60", "prompt": "consent", "login_hint": "alice",
             "response_mode": "query"}.get(name, params.get(name, "x"))
    response = Browser(live_server.url).http.get(f"{url}&{urlencode({name: value})}&{urlencode({name: value})}",
                                                 allow_redirects=False)
    target, query = location_params(response)
    assert target == WEB_REDIRECT and query["error"] == "invalid_request", query
    assert "more than once" in query["error_description"]


@pytest.mark.parametrize("name", ["client_id", "redirect_uri"])
def test_a_repeated_client_id_or_redirect_uri_is_an_error_page(live_server, issuer_a, world_a, name):
    url, params = authorize_url(issuer_a, _web(world_a))
    response = Browser(live_server.url).http.get(f"{url}&{urlencode({name: params[name]})}",
                                                 allow_redirects=False)
    assert_error_page(response, 400)


@pytest.mark.parametrize("extra, error", [
    ({"response_mode": "fragment"}, "invalid_request"),
    ({"response_mode": "form_post"}, "invalid_request"),
    ({"response_mode": "nonsense"}, "invalid_request"),
    ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    ({"request_uri": "https://rp.example.test/request.jwt"}, "request_uri_not_supported"),
])
def test_unsupported_features_are_refused_not_ignored(live_server, issuer_a, world_a, extra, error):
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a)
    url, _ = authorize_url(issuer_a, world_a.first_party.application.client_id, extra=extra)
    response = browser.http.get(url, allow_redirects=False)
    target, query = location_params(response)
    assert "#" not in response.headers["Location"]
    assert target == WEB_REDIRECT and query["error"] == error and "code" not in query, query


def test_an_openid_request_without_redirect_uri_is_an_error_page(live_server, issuer_a, world_a):
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a)
    url, _ = authorize_url(issuer_a, world_a.first_party.application.client_id, omit=("redirect_uri",))
    assert_error_page(browser.http.get(url, allow_redirects=False), 400)
    # Plain OAuth (no openid) may omit it when exactly one is registered (RFC 6749 §3.1.2.3).
    url, _ = authorize_url(issuer_a, world_a.first_party.application.client_id, omit=("redirect_uri",),
                           scope="profile")
    target, query = location_params(browser.http.get(url, allow_redirects=False))
    assert target == WEB_REDIRECT and "code" in query, query


def test_prompt_none_without_consent_is_consent_required_not_a_page(live_server, issuer_a, world_a):
    browser = Browser(live_server.url)
    sign_in(browser, issuer_a)  # signed in, never consented to the web client
    url, _ = authorize_url(issuer_a, _web(world_a), prompt="none")
    response = browser.http.get(url, allow_redirects=False)
    target, query = location_params(response)
    assert target == WEB_REDIRECT and query["error"] == "consent_required", query


def test_an_unregistered_port_always_asks_the_person_even_after_consent(live_server, issuer_a, world_a):
    """Without prompt=none too: an app on the device that opens the browser with its own port
    must not get a code for a client the person once approved on its registered URI."""
    client_id = world_a.spa.application.client_id
    browser = Browser(live_server.url)
    obtain_code(browser, issuer_a, client_id, NATIVE_REDIRECT)  # signed in and consented once
    other = NATIVE_REDIRECT.replace("127.0.0.1", "127.0.0.1:40000")
    url, _ = authorize_url(issuer_a, client_id, other)
    response = browser.http.get(url, allow_redirects=False)
    assert response.status_code == 200 and 'name="allow"' in response.text, response.headers.get("Location")
    # Registered URI: consent is remembered, no page (the control).
    url, _ = authorize_url(issuer_a, client_id, NATIVE_REDIRECT)
    _, params = location_params(browser.http.get(url, allow_redirects=False))
    assert "code" in params, params
