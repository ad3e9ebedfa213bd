"""Malformed input never yields a 500: every endpoint answers garbage with a 4xx it documents.

Back-channel endpoints answer with an RFC 6749 §5.2 JSON error; browser-facing ones with an error
page, the login form again, or an error redirect to the client's registered redirect URI.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

import pytest
import requests

from tenants.context import tenant_context
from tests.conftest import WEB_REDIRECT
from tests.oidc import Browser
from tests.security.flows import (
    assert_error_page,
    assert_oauth_error,
    authorize_url,
    full_flow,
    obtain_code,
    sign_in,
)

pytestmark = pytest.mark.django_db(transaction=True)

FORM = "application/x-www-form-urlencoded"
GARBAGE = "\u202e\U0001f4a9<script>'\"%00" + "A" * 10_000


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def _send(url: str, method: str = "POST", body: bytes | str | dict | None = None,
          content_type: str | None = FORM, headers: dict | None = None, **kwargs) -> requests.Response:
    headers = dict(headers or {})
    if content_type is not None and not isinstance(body, dict):
        headers["Content-Type"] = content_type
    if isinstance(body, str):
        body = body.encode()
    return requests.request(method, url, data=body, headers=headers, allow_redirects=False, **kwargs)


# --- the token endpoint -----------------------------------------------------------------------

def _token_cases(client_id: str, secret: str) -> dict[str, dict]:
    good = f"client_id={client_id}&client_secret={secret}"
    basic = {"Authorization": "Basic " + _b64(f"{client_id}:{secret}".encode())}
    return {
        "json body": {"body": json.dumps({"grant_type": "client_credentials", "client_id": client_id,
                                           "client_secret": secret}), "content_type": "application/json"},
        "empty body": {"body": b""},
        "empty body, no content type": {"body": None, "content_type": None},
        "multipart body": {"body": b"--x\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\n"
                                    b"client_credentials\r\n--x--\r\n",
                           "content_type": "multipart/form-data; boundary=x"},
        "GET": {"method": "GET", "body": None, "content_type": None},
        "PUT": {"method": "PUT", "body": f"grant_type=client_credentials&{good}"},
        "DELETE": {"method": "DELETE", "body": None},
        "repeated grant_type": {"body": f"grant_type=client_credentials&grant_type=client_credentials&{good}"},
        "repeated client_id": {"body": f"grant_type=client_credentials&{good}&client_id={client_id}"},
        "repeated code": {"body": f"grant_type=authorization_code&code=a&code=b&{good}"},
        "10 kB garbage grant_type": {"body": f"grant_type={'x' * 10_240}&{good}"},
        "unicode garbage grant_type": {"body": {"grant_type": GARBAGE}},
        "password grant": {"body": f"grant_type=password&username=alice&password=x&{good}"},
        "implicit grant": {"body": f"grant_type=implicit&{good}"},
        "device grant": {"body": f"grant_type=urn:ietf:params:oauth:grant-type:device_code&device_code=x&{good}"},
        "jwt-bearer grant": {"body": f"grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=x&{good}"},
        "no grant_type": {"body": good},
        "non-UTF-8 bytes": {"body": b"grant_type=\xff\xfe&client_id=\xc3\x28&client_secret=\x80"},
        "non-UTF-8 percent-encoded": {"body": f"grant_type=%ff%fe&code=%c3%28&{good}"},
        "bogus charset": {"body": f"grant_type=client_credentials&{good}", "content_type": FORM + "; charset=bogus"},
        "utf-16 charset": {"body": f"grant_type=client_credentials&{good}", "content_type": FORM + "; charset=utf-16"},
        "NUL in client_id (body)": {
            "body": f"grant_type=client_credentials&client_id=%00{client_id}&client_secret={secret}"},
        "NUL in client_id (basic)": {
            "body": "grant_type=client_credentials",
            "headers": {"Authorization": "Basic " + _b64(f"\0{client_id}:{secret}".encode())}},
        "NUL in code": {"body": f"grant_type=authorization_code&code=ab%00cd&redirect_uri={WEB_REDIRECT}"
                                 f"&code_verifier={'v' * 43}&{good}"},
        "NUL in code_verifier": {"body": f"grant_type=authorization_code&code=abcd&redirect_uri={WEB_REDIRECT}"
                                          f"&code_verifier=%00&{good}"},
        "NUL in redirect_uri": {"body": f"grant_type=authorization_code&code=abcd&redirect_uri=%00"
                                         f"&code_verifier={'v' * 43}&{good}"},
        "NUL in refresh_token": {"body": f"grant_type=refresh_token&refresh_token=%00abc&{good}"},
        "NUL in scope": {"body": f"grant_type=client_credentials&scope=openid%00email&{good}"},
        "garbage scope": {"body": {"grant_type": "client_credentials", "scope": GARBAGE,
                                    "client_id": client_id, "client_secret": secret}},
        "unparsable resource": {"body": f"grant_type=client_credentials&resource=http://%5B&{good}"},
        "resource with NUL": {"body": f"grant_type=client_credentials&resource=https://x.test/%00&{good}"},
        "relative resource": {"body": f"grant_type=client_credentials&resource=/api&{good}"},
        "credentials in the query": {"body": "grant_type=client_credentials", "params": {"client_id": client_id,
                                                                                       "client_secret": secret}},
        "authorization not base64": {"body": "grant_type=client_credentials",
                                         "headers": {"Authorization": "Basic !!!not*base64%%%"}},
        "authorization base64 of non-UTF-8": {"body": "grant_type=client_credentials",
                                                  "headers": {"Authorization": "Basic " + _b64(b"\xff\xfe:\xc3\x28")}},
        "authorization without colon": {"body": "grant_type=client_credentials",
                                            "headers": {"Authorization": "Basic " + _b64(client_id.encode())}},
        "authorization with bad percent-escapes": {"body": "grant_type=client_credentials",
                                                       "headers": {"Authorization": "Basic " + _b64(b"%zz:%ff%00")}},
        "authorization scheme only": {"body": "grant_type=client_credentials", "headers": {"Authorization": "Basic"}},
        "authorization latin-1 bytes": {"body": "grant_type=client_credentials",
                                            "headers": {"Authorization": b"Basic \xff\xfe\xfd"}},
        "bearer instead of basic": {"body": "grant_type=client_credentials", "headers": {"Authorization": "Bearer x"}},
        "basic plus body credentials of the same client": {"body": f"grant_type=client_credentials&{good}",
                                                               "headers": basic},
        "too many fields": {"body": "&".join(f"f{i}=1" for i in range(1_500))},
        "body over the upload limit": {"body": b"grant_type=client_credentials&pad=" + b"x" * 3_000_000},
    }


TOKEN_CASE_NAMES = list(_token_cases("id", "secret"))
# Well-formed enough to be honoured; the point is only that they never crash the endpoint.
MAY_SUCCEED = {"bogus charset", "utf-16 charset", "resource with NUL",
               "basic plus body credentials of the same client"}


@pytest.mark.parametrize("case", TOKEN_CASE_NAMES)
def test_token_endpoint_answers_malformed_requests_with_an_oauth_error(live_server, issuer_a, world_a, case):
    spec = dict(_token_cases(world_a.web.application.client_id, world_a.web.client_secret)[case])
    body = spec.pop("body")
    response = _send(f"{issuer_a}/token", body=body, **spec)
    if case in MAY_SUCCEED and response.status_code == 200:
        assert response.json()["access_token"]
        return
    assert_oauth_error(response)
    assert "access_token" not in response.text


@pytest.mark.parametrize("case", ["json body", "GET", "repeated grant_type", "non-UTF-8 bytes",
                                  "authorization not base64", "NUL in client_id (basic)", "empty body",
                                  "credentials in the query", "too many fields", "authorization latin-1 bytes"])
def test_revoke_endpoint_answers_malformed_requests_with_an_oauth_error(live_server, issuer_a, world_a, case):
    spec = dict(_token_cases(world_a.web.application.client_id, world_a.web.client_secret)[case])
    body = spec.pop("body")
    if isinstance(body, bytes):
        body = body.replace(b"grant_type", b"token")
    elif isinstance(body, str):
        body = body.replace("grant_type", "token")
    assert_oauth_error(_send(f"{issuer_a}/revoke", body=body, **spec))


@pytest.mark.parametrize("token", ["%00", "abc%00def", "x" * 10_000, "%ff%fe"])
def test_revoke_and_introspect_with_a_garbage_token(live_server, issuer_a, world_a, token):
    auth = (world_a.web.application.client_id, world_a.web.client_secret)
    revoke = _send(f"{issuer_a}/revoke", body=f"token={token}&token_type_hint=%00", auth=auth)
    assert revoke.status_code == 200, revoke.text
    intro = _send(f"{issuer_a}/introspect", body=f"token={token}&token_type_hint=refresh_token", auth=auth)
    assert intro.status_code == 200 and intro.json() == {"active": False}, intro.text


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Basic !!!"}, {"Authorization": "Basic " + _b64(b"nobody:nothing")},
    {"Authorization": "Bearer abc"}, {"Authorization": "Basic " + _b64(b"\0:\0")},
    {"Authorization": b"Basic \xff\xfe\xfd"},
], ids=["no auth", "basic not base64", "unknown client", "bearer", "basic NUL", "basic latin-1 bytes"])
def test_introspect_without_valid_client_authentication_is_401(live_server, issuer_a, world_a, headers):
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    response = _send(f"{issuer_a}/introspect", body=f"token={tokens['access_token']}", headers=headers)
    body = assert_oauth_error(response, "invalid_client", 401)
    assert "active" not in body and "alice" not in response.text
    # A public client of the tenant is not an introspection client either.
    spa = world_a.spa.application.client_id
    response = _send(f"{issuer_a}/introspect", body=f"token={tokens['access_token']}&client_id={spa}")
    assert_oauth_error(response, "invalid_client", 401)


@pytest.mark.parametrize("case", ["json body", "GET", "repeated grant_type", "non-UTF-8 bytes", "empty body"])
def test_introspect_answers_malformed_requests_with_an_oauth_error(live_server, issuer_a, world_a, case):
    spec = dict(_token_cases(world_a.web.application.client_id, world_a.web.client_secret)[case])
    body = spec.pop("body")
    response = _send(f"{issuer_a}/introspect", body=body, **spec,
                     auth=(world_a.web.application.client_id, world_a.web.client_secret))
    assert_oauth_error(response, "invalid_request")


@pytest.mark.parametrize("authorization", [
    None, "Bearer", "Bearer ", "Bearer garbage", "Bearer " + "A" * 10_000, "bearer garbage",
    "Basic " + _b64(b"a:b"), "Bearer a b c", b"Bearer \xff\xfe", "Bearer %00",
])
def test_userinfo_with_a_garbage_bearer_is_401_with_www_authenticate(live_server, issuer_a, world_a,
                                                                    authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    for method in ("GET", "POST"):
        response = requests.request(method, f"{issuer_a}/userinfo", headers=headers)
        assert response.status_code == 401, (method, response.status_code, response.text[:300])
        assert response.headers.get("WWW-Authenticate", "").startswith("Bearer"), response.headers


def test_userinfo_ignores_an_access_token_in_the_query_string(live_server, issuer_a, world_a):
    tokens = full_flow(Browser(live_server.url), issuer_a, world_a)
    response = requests.get(f"{issuer_a}/userinfo", params={"access_token": tokens["access_token"]})
    # RFC 6750 §3.1: invalid_request is a 400; an ignored token would give 401. Never the claims.
    assert response.status_code in (400, 401) and "alice" not in response.text


# --- browser-facing endpoints -----------------------------------------------------------------

AUTHORIZE_GARBAGE = {
    "no parameters": None,
    "implicit": {"response_type": "token"},
    "hybrid": {"response_type": "code id_token"},
    "garbage response_type": {"response_type": GARBAGE},
    "garbage scope": {"scope": GARBAGE},
    "NUL in scope": {"scope": "openid\0email"},
    "NUL in client_id": {"client_id": "\0"},
    "NUL in redirect_uri": {"redirect_uri": WEB_REDIRECT + "\0"},
    "NUL in state": {"state": "a\0b"},
    "NUL in nonce": {"nonce": "a\0b"},
    "NUL in code_challenge": {"code_challenge": "a\0" + "b" * 42},
    "short code_challenge": {"code_challenge": "abc"},
    "garbage code_challenge": {"code_challenge": GARBAGE},
    "huge state": {"state": "s" * 4_000},
    "max_age letters": {"max_age": "abc"},
    "max_age negative": {"max_age": "-1"},
    "max_age huge": {"max_age": "9" * 40},
    "max_age superscript digit": {"max_age": "\u00b2"},
    "max_age NUL": {"max_age": "\0"},
    "garbage prompt": {"prompt": GARBAGE},
    "prompt none and login": {"prompt": "none login"},
    "garbage login_hint": {"login_hint": GARBAGE},
    "garbage id_token_hint": {"id_token_hint": "a.b.c"},
    "request object": {"request": "eyJhbGciOiJub25lIn0.e30."},
    "request_uri": {"request_uri": "https://evil.example/req"},
    "claims not JSON": {"claims": "{not json"},
    "response_mode form_post": {"response_mode": "form_post"},
    "response_mode fragment": {"response_mode": "fragment"},
    "garbage ui_locales and display": {"ui_locales": GARBAGE, "display": GARBAGE, "acr_values": GARBAGE},
    "resource not a URI": {"resource": "http://["},
    "resource a valid URI": {"resource": "https://api.example.test/"},
    "non-UTF-8 percent escapes": {"__raw__": "&state=%ff%fe&nonce=%c3%28"},
    "repeated client_id": {"__raw__": "&client_id=other"},
    "repeated redirect_uri": {"__raw__": "&redirect_uri=https%3A%2F%2Fevil.example%2Fcallback"},
    "repeated response_type": {"__raw__": "&response_type=code"},
}


def _assert_handled(response: requests.Response, issuer: str, case: str) -> None:
    assert response.status_code < 500, (case, response.status_code, response.text[:300])
    if response.is_redirect:
        location = response.headers["Location"]
        login = urlsplit(f"{issuer}/login").path
        assert location.startswith((WEB_REDIRECT + "?", f"{login}?")), (case, location)
    else:
        assert response.status_code in (200, 400), (case, response.status_code)


def _garbage_authorize_url(issuer: str, world, case: str) -> str:
    overrides = AUTHORIZE_GARBAGE[case]
    if overrides is None:
        return f"{issuer}/authorize"
    raw = overrides.get("__raw__", "")
    url, _ = authorize_url(issuer, world.web.application.client_id,
                           extra={k: v for k, v in overrides.items() if k != "__raw__"})
    return url + raw


@pytest.mark.parametrize("case", list(AUTHORIZE_GARBAGE))
def test_authorize_with_garbage_parameters_never_500s(live_server, issuer_a, world_a, case):
    browser = Browser(live_server.url)
    url = _garbage_authorize_url(issuer_a, world_a, case)
    _assert_handled(browser.http.get(url, allow_redirects=False), issuer_a, case)
    obtain_code(browser, issuer_a, world_a.web.application.client_id)  # signed in, consented
    _assert_handled(browser.http.get(url, allow_redirects=False), issuer_a, case)


def test_authorize_with_duplicate_redirect_uri_never_redirects_to_the_second(live_server, issuer_a, world_a):
    browser = Browser(live_server.url)
    obtain_code(browser, issuer_a, world_a.web.application.client_id)
    response = browser.http.get(_garbage_authorize_url(issuer_a, world_a, "repeated redirect_uri"),
                                allow_redirects=False)
    assert "evil.example" not in response.headers.get("Location", "")


LOGOUT_HINTS = {
    "word": "garbage",
    "three dots": "a.b.c",
    "five parts (JWE shape)": "a.b.c.d.e",
    "empty JSON parts": "e30.e30.e30",
    "header is a JSON list": f"{_b64(b'[]')}.e30.",
    "header is a JSON number": "MQ.e30.",
    "alg none": "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",
    "unknown kid": "eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUifQ.e30.c2ln",
    "HS256 with empty key": "eyJhbGciOiJIUzI1NiJ9.e30.",
    "JSON serialization": json.dumps({"payload": "e30", "signatures": []}),
    "JSON serialization, no signatures key": json.dumps({"payload": "e30"}),
    "JSON list": "[]",
    "NUL": "\0",
    "huge": "a." * 20_000,
}


@pytest.mark.parametrize("case", list(LOGOUT_HINTS))
def test_logout_with_a_garbage_id_token_hint_is_a_400_page(live_server, issuer_a, world_a, case):
    hint = LOGOUT_HINTS[case]
    browser = Browser(live_server.url)
    params = {"id_token_hint": hint, "post_logout_redirect_uri": "https://rp.example.test/bye", "state": "s"}
    assert_error_page(browser.http.get(f"{issuer_a}/logout", params=params, allow_redirects=False), 400)
    sign_in(browser, issuer_a)
    assert_error_page(browser.http.get(f"{issuer_a}/logout", params=params, allow_redirects=False), 400)
    assert_error_page(browser.http.get(f"{issuer_a}/logout", params={"id_token_hint": hint},
                                       allow_redirects=False), 400)


@pytest.mark.parametrize("params", [
    {"post_logout_redirect_uri": "https://evil.example/bye"},
    {"post_logout_redirect_uri": "https://rp.example.test/bye"},  # no client to check it against
    {"client_id": "\0", "post_logout_redirect_uri": "https://rp.example.test/bye"},
    {"client_id": "nobody"},
])
def test_logout_with_unverifiable_parameters_is_a_400_page(live_server, issuer_a, world_a, params):
    assert_error_page(requests.get(f"{issuer_a}/logout", params=params, allow_redirects=False), 400)


@pytest.mark.parametrize("fields", [
    {"username": "ali\0ce", "password": "x"},
    {"username": "\0", "password": "\0"},
    {"username": "alice", "password": "pass\0word"},
    {"username": "a" * 10_000, "password": "x"},
    {"username": "alice", "password": "x" * 100_000},
    {"username": "", "password": ""},
    {"username": GARBAGE, "password": GARBAGE, "next": GARBAGE},
    {"username": "alice", "password": "x", "next": "javascript:alert(1)\0"},
])
def test_login_with_garbage_rerenders_the_form(live_server, issuer_a, world_a, fields):
    browser = Browser(live_server.url)
    page = browser.go(f"{issuer_a}/login")
    response = browser.submit(page, fields)
    assert response.status_code == 200, (response.status_code, response.text[:300])
    assert 'name="username"' in response.text and 'name="password"' in response.text
    assert "The username or password is not correct." in response.text


def test_login_with_non_utf8_body_never_500s(live_server, issuer_a, world_a):
    browser = Browser(live_server.url)
    page = browser.go(f"{issuer_a}/login")
    token = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    body = f"csrfmiddlewaretoken={token}&username=\xff\xfe&password=%ff%00".encode("latin-1")
    response = browser.http.post(f"{issuer_a}/login", data=body, headers={"Content-Type": FORM},
                                 allow_redirects=False)
    assert response.status_code == 200 and 'name="username"' in response.text, response.status_code


@pytest.mark.parametrize("path", ["authorize", "token", "userinfo", "jwks.json", "login", "logout",
                                  ".well-known/openid-configuration", "introspect", "revoke"])
@pytest.mark.parametrize("slug", ["nope", "acme-x", "ACME", "%00", "a" * 300])
def test_unknown_tenant_is_a_404_page(live_server, world_a, path, slug):
    for method in ("GET", "POST"):
        response = requests.request(method, f"{live_server.url}/t/{slug}/{path}", allow_redirects=False,
                                    data={"grant_type": "client_credentials"} if method == "POST" else None)
        assert response.status_code == 404, (method, response.status_code, response.text[:200])
        assert "Location" not in response.headers


def test_inactive_tenant_is_a_404_page(live_server, issuer_a, world_a):
    assert requests.get(f"{issuer_a}/.well-known/openid-configuration").status_code == 200
    world_a.tenant.is_active = False
    world_a.tenant.save(update_fields=["is_active"])
    for path in ("authorize", "login", ".well-known/openid-configuration", "jwks.json"):
        assert requests.get(f"{issuer_a}/{path}", allow_redirects=False).status_code == 404
    response = requests.post(f"{issuer_a}/token", data={"grant_type": "client_credentials"},
                             auth=(world_a.web.application.client_id, world_a.web.client_secret))
    assert response.status_code == 404 and "access_token" not in response.text


# The uid part of an emailed link: base64 of no UUID ("1"), of bytes that are no UTF-8, not
# base64 at all, and a UUID of nobody. Each link is a readable 400 page, never a 500.
@pytest.mark.parametrize("uidb64", ["MQ", "_-8", "%00", "!!", "a" * 300,
                                    "MDAwMDAwMDAtMDAwMC0wMDAwLTAwMDAtMDAwMDAwMDAwMDAw"])
@pytest.mark.parametrize("link", ["password/reset", "verify-email"])
def test_a_malformed_emailed_link_is_a_400_page(live_server, issuer_a, world_a, link, uidb64):
    response = requests.get(f"{issuer_a}/{link}/{uidb64}/1a2b-0123456789abcdef", allow_redirects=False)
    assert response.status_code == 400, (response.status_code, response.text[:200])
    assert response.headers["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("charset", ["utf-16", "utf-32", "shift_jis", "iso-2022-jp", "no-such-charset", "utf-7"])
@pytest.mark.parametrize("path", ["login", "logout", "authorize"])
def test_a_form_posted_in_another_charset_gets_a_page_never_a_500(live_server, issuer_a, world_a, charset, path):
    """Django's own bad_request handler runs the CSRF check again, which reads the body
    again: a body that could not be decoded the first time became a 500."""
    browser = Browser(live_server.url)
    page = browser.go(f"{issuer_a}/login")
    token = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    body = f"csrfmiddlewaretoken={token}&username=alice&password=x\xff".encode("latin-1") + b"\xff\xfe\x00"
    response = browser.http.post(f"{issuer_a}/{path}", data=body, allow_redirects=False,
                                 headers={"Content-Type": f"{FORM}; charset={charset}"})
    assert response.status_code < 500, (response.status_code, response.text[:300])
    assert response.headers.get("Content-Type", "").startswith("text/html"), response.headers.get("Content-Type")


def test_a_multipart_form_in_utf7_is_refused_with_a_page(live_server, issuer_a, world_a):
    """Django decodes multipart fields in the charset they declare: UTF-7 turns ``+2D8-`` into
    a lone surrogate, which no database driver can send (it was a 500 at the login page)."""
    browser = Browser(live_server.url)
    page = browser.go(f"{issuer_a}/login")
    token = page.text.split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    boundary = "XyZ"
    fields = (("csrfmiddlewaretoken", token), ("username", "+2D8-"), ("password", "x"), ("next", ""))
    body = "".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n' for k, v in fields)
    for charset in ("utf-7", "utf-16", "utf-8"):
        response = browser.http.post(f"{issuer_a}/login", data=(body + f"--{boundary}--\r\n").encode(),
                                     allow_redirects=False,
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}; "
                                                              f"charset={charset}"})
        assert response.status_code == (200 if charset == "utf-8" else 400), (charset, response.status_code)
        assert response.headers["Content-Type"].startswith("text/html")


def test_lone_surrogates_never_make_an_audit_write_fail(world_a):
    from audit.models import Action
    from audit.recording import record
    from core.actors import system_actor

    with tenant_context(world_a.tenant):
        event = record(Action.LOGIN_FAILED, actor=system_actor("pytest"), subject="a\ud83fb",
                       details={"username": "a\ud83fb"})
    assert event.subject == "a\ufffdb" and event.details == {"username": "a\ufffdb"}
