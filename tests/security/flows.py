"""Helpers for the security tests: raw front- and back-channel requests against the live server.

The relying party here is deliberately hand-rolled (plain requests) so an attacker's request can
differ from a well-behaved one in exactly one parameter.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from tests.conftest import PASSWORD, WEB_REDIRECT
from tests.oidc import Browser, redirect_params

# RFC 6749 §5.2 error codes, plus RFC 7009 §2.2.1 unsupported_token_type and RFC 8707 §2 invalid_target.
TOKEN_ERRORS = {
    "invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
    "unsupported_grant_type", "invalid_scope", "unsupported_token_type", "invalid_target",
}


def pkce_pair() -> tuple[str, str]:
    """(code_verifier, S256 code_challenge)."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def authorize_url(issuer: str, client_id: str, redirect_uri: str = WEB_REDIRECT, *,
                  omit: tuple[str, ...] = (), extra: dict | None = None, **overrides) -> tuple[str, dict]:
    """A well-formed authorization request URL (S256 PKCE, state, nonce); ``overrides`` (and
    ``extra``, for any name) change or add parameters, ``omit`` drops them.
    Returns (url, the parameters incl. code_verifier)."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": "openid profile email", "state": secrets.token_urlsafe(12),
        "nonce": secrets.token_urlsafe(12), "code_challenge": challenge, "code_challenge_method": "S256",
    }
    params.update(overrides)
    params.update(extra or {})
    for key in omit:
        params.pop(key, None)
    return f"{issuer}/authorize?{urlencode(params, doseq=True)}", {**params, "code_verifier": verifier}


def sign_in(browser: Browser, issuer: str, username: str = "alice", password: str = PASSWORD) -> requests.Response:
    """Sign in on the tenant's login page without any relying party."""
    page = browser.go(f"{issuer}/login")
    return browser.login(page, username, password)


def obtain_code(browser: Browser, issuer: str, client_id: str, redirect_uri: str = WEB_REDIRECT,
                **overrides) -> tuple[str, dict]:
    """Front channel as a real user: authorize -> login -> consent -> code. Returns (code, request)."""
    url, request = authorize_url(issuer, client_id, redirect_uri, **overrides)
    response = browser.go(url)
    if 'name="username"' in response.text:
        response = browser.login(response, "alice", PASSWORD)
    if 'name="allow"' in response.text:
        response = browser.submit(response, {"allow": "1"})
    params = redirect_params(response)
    assert "code" in params, params
    assert params["state"] == request["state"]
    return params["code"], request


def exchange(issuer: str, code: str, request: dict, client_id: str, secret: str | None, *,
             auth: str = "basic", **overrides) -> requests.Response:
    """POST the code to the token endpoint; ``overrides`` replace form fields (None drops one)."""
    data = {"grant_type": "authorization_code", "code": code, "redirect_uri": request["redirect_uri"],
            "code_verifier": request["code_verifier"]}
    return token_request(issuer, data, client_id, secret, auth=auth, **overrides)


def token_request(issuer: str, data: dict, client_id: str, secret: str | None, *,
                  auth: str = "basic", endpoint: str = "token", **overrides) -> requests.Response:
    """POST form ``data`` to ``endpoint`` with client_secret_basic, client_secret_post or none."""
    data = dict(data)
    data.update(overrides)
    data = {k: v for k, v in data.items() if v is not None}
    kwargs = {}
    if auth == "basic" and secret is not None:
        kwargs["auth"] = (client_id, secret)
    elif auth == "post":
        data["client_id"] = client_id
        if secret is not None:
            data["client_secret"] = secret
    elif auth == "none":
        data["client_id"] = client_id
    return requests.post(f"{issuer}/{endpoint}", data=data, allow_redirects=False, **kwargs)


def full_flow(browser: Browser, issuer: str, world) -> dict:
    """A complete, legitimate code flow for ``world.web``; returns the token response."""
    client_id, secret = world.web.application.client_id, world.web.client_secret
    code, request = obtain_code(browser, issuer, client_id)
    response = exchange(issuer, code, request, client_id, secret)
    assert response.status_code == 200, response.text
    tokens = response.json()
    tokens["code"] = code
    return tokens


def introspect(issuer: str, token: str, client_id: str, secret: str, hint: str | None = None) -> dict:
    data = {"token": token, **({"token_type_hint": hint} if hint else {})}
    response = requests.post(f"{issuer}/introspect", data=data, auth=(client_id, secret))
    assert response.status_code == 200, response.text
    return response.json()


def refresh(issuer: str, refresh_token: str, client_id: str, secret: str | None) -> requests.Response:
    return token_request(issuer, {"grant_type": "refresh_token", "refresh_token": refresh_token},
                         client_id, secret)


def assert_oauth_error(response: requests.Response, error: str | set[str] | None = None,
                       status: int | set[int] | None = None) -> dict:
    """A JSON RFC 6749 §5.2 error body (never a 5xx), optionally of the given code and status."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:500])
    if status is not None:
        statuses = {status} if isinstance(status, int) else status
        assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers.get("Content-Type", "").startswith("application/json"), (
        response.headers.get("Content-Type"), response.text[:500])
    body = response.json()
    assert isinstance(body, dict) and "error" in body, body
    assert body["error"] in TOKEN_ERRORS, body
    if error is not None:
        errors = {error} if isinstance(error, str) else error
        assert body["error"] in errors, body
    return body


def assert_error_page(response: requests.Response, status: int = 400) -> None:
    """An HTML error page shown to the person: never a redirect anywhere."""
    assert response.status_code == status, (response.status_code, response.headers.get("Location"),
                                            response.text[:500])
    assert "Location" not in response.headers, response.headers["Location"]
    assert response.headers.get("Content-Type", "").startswith("text/html"), response.headers.get("Content-Type")
    assert "code=" not in response.text


def location_params(response: requests.Response) -> tuple[str, dict[str, str]]:
    """(the redirect target without its query, its query as a flat dict)."""
    assert response.is_redirect, (response.status_code, response.text[:500])
    location = response.headers["Location"]
    parts = urlsplit(location)
    query = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    return f"{parts.scheme}://{parts.netloc}{parts.path}", query
