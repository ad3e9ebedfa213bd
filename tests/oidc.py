"""Test helpers: a scripted browser (requests) and a relying party built on Authlib."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


class Browser:
    """A cookie-keeping HTTP client that follows redirects only while they stay on the IdP."""

    def __init__(self, idp_origin: str) -> None:
        self.origin = idp_origin
        self.http = requests.Session()
        self.last: requests.Response | None = None

    def go(self, url: str, *, method: str = "GET", data: dict | None = None) -> requests.Response:
        """Request ``url``; follow redirects inside the IdP and stop at the first one leaving it."""
        response = self.http.request(method, url, data=data, allow_redirects=False)
        while response.is_redirect:
            target = urljoin(response.url, response.headers["Location"])
            if not target.startswith(self.origin):
                break
            response = self.http.get(target, allow_redirects=False)
        self.last = response
        return response

    def submit(self, response: requests.Response, fields: dict) -> requests.Response:
        """POST the page's form (with its CSRF token) to its action, or to the page's own URL."""
        token = CSRF_RE.search(response.text)
        assert token, f"no CSRF token on {response.url}: {response.text[:300]}"
        action = re.search(r'<form method="post" action="([^"]*)"', response.text)
        url = (urljoin(response.url, action.group(1).replace("&amp;", "&")) if action and action.group(1)
               else response.url)
        return self.go(url, method="POST", data={"csrfmiddlewaretoken": token.group(1), **fields},)

    def login(self, response: requests.Response, username: str, password: str) -> requests.Response:
        assert 'name="username"' in response.text, response.text[:500]
        return self.submit(response, {"username": username, "password": password,
                                      "next": _hidden(response.text, "next")})


def _hidden(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    return match.group(1).replace("&amp;", "&") if match else ""


def redirect_params(response: requests.Response) -> dict[str, str]:
    """The query of a redirect that left the IdP, as a flat dict."""
    assert response.is_redirect, (response.status_code, response.text[:500])
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    return {k: v[0] for k, v in query.items()}


@dataclass
class RelyingParty:
    """An OIDC relying party on Authlib, configured only from discovery."""

    issuer: str
    client_id: str
    client_secret: str | None
    redirect_uri: str
    scope: str = "openid profile email"

    def __post_init__(self) -> None:
        self.metadata = requests.get(f"{self.issuer}/.well-known/openid-configuration").json()
        assert self.metadata["issuer"] == self.issuer
        auth_method = "client_secret_basic" if self.client_secret else "none"
        self.session = OAuth2Session(
            self.client_id, self.client_secret, scope=self.scope, redirect_uri=self.redirect_uri,
            code_challenge_method="S256", token_endpoint_auth_method=auth_method,
        )

    def authorization_url(self, **extra) -> tuple[str, dict]:
        verifier = generate_token(48)
        nonce = generate_token(20)
        url, state = self.session.create_authorization_url(
            self.metadata["authorization_endpoint"], code_verifier=verifier, nonce=nonce, **extra
        )
        return url, {"state": state, "code_verifier": verifier, "nonce": nonce}

    def exchange(self, callback_url: str, pending: dict) -> dict:
        return self.session.fetch_token(
            self.metadata["token_endpoint"], authorization_response=callback_url,
            code_verifier=pending["code_verifier"], state=pending["state"],
        )

    def jwks(self) -> KeySet:
        return KeySet.import_key_set(requests.get(self.metadata["jwks_uri"]).json())

    def verify_id_token(self, id_token: str, nonce: str | None = None) -> dict:
        """Signature against the published JWKS (by kid), then iss, aud, exp and nonce."""
        token = jwt.decode(id_token, self.jwks(), algorithms=["RS256", "ES256"])
        assert token.header.get("kid"), "ID token without kid"
        registry = jwt.JWTClaimsRegistry(
            iss={"essential": True, "value": self.issuer},
            aud={"essential": True, "value": self.client_id},
            exp={"essential": True},
            **({"nonce": {"essential": True, "value": nonce}} if nonce else {}),
        )
        registry.validate(token.claims)
        return dict(token.claims)
