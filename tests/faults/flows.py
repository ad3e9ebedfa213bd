"""The flows a fault or soak test keeps running, as a relying party and a browser would, and a
threaded load generator that records every answer by phase (issue 15).

Each request carries an ``X-Request-ID`` of its own, which the audit trail stores with the
events the request recorded (audit.context): a token the client received is then matched to
its event by id, the strongest form of "no token without its event".
"""

from __future__ import annotations

import base64
import collections
import hashlib
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

CSRF_RE = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
TOKEN_ACTIONS = ("token.issued", "token.refreshed")


@dataclass
class Target:
    """Where the IdP answers, and what the provisioning (bench/provision.py) made there."""

    base: str  # http://127.0.0.1:port or https://host:port
    tenant: str
    info: dict[str, Any]
    verify: bool | str = True
    headers: dict[str, str] = field(default_factory=dict)  # e.g. X-Forwarded-Proto: https

    @property
    def issuer_path(self) -> str:
        return f"/t/{self.tenant}"

    @property
    def origin(self) -> str:
        """The origin the browser sees (https behind the proxy): what its Referer names, which
        Django's CSRF check compares with the host on https requests."""
        scheme = "https" if self.headers.get("X-Forwarded-Proto") == "https" else urlsplit(self.base).scheme
        return f"{scheme}://{urlsplit(self.base).netloc}"

    def session(self) -> requests.Session:
        http_session = requests.Session()
        http_session.trust_env = False  # REQUESTS_CA_BUNDLE in the environment would override verify
        http_session.verify = self.verify
        http_session.headers.update(self.headers)
        return http_session

    def keep_secure_cookies(self, http_session: requests.Session) -> None:
        """Over plain http to gunicorn (the test telling it, as nginx would, that the browser
        used https), let the Secure cookies it set go back: requests sends them over https only."""
        if self.base.startswith("http://"):
            for cookie in http_session.cookies:
                cookie.secure = False


@dataclass
class Outcome:
    """One request's answer: the flow step, its status (0: no answer), its request id, and
    whether it handed out a token."""

    step: str
    status: int
    request_id: str
    token: bool = False
    at: float = field(default_factory=time.monotonic)
    seconds: float = 0.0
    active: bool | None = None  # introspection: what the answer said (None: not an introspection)


class Recorder:
    """Every outcome, thread-safe, by phase (the fault test names the phases as it goes)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.phase = "before"
        self.outcomes: dict[str, list[Outcome]] = collections.defaultdict(list)

    def set_phase(self, phase: str) -> None:
        with self.lock:
            self.phase = phase

    def add(self, outcome: Outcome) -> None:
        with self.lock:
            self.outcomes[self.phase].append(outcome)

    def statuses(self, phase: str) -> collections.Counter[int]:
        with self.lock:
            return collections.Counter(o.status for o in self.outcomes[phase])

    def all(self) -> list[Outcome]:
        with self.lock:
            return [o for phase in self.outcomes.values() for o in phase]

    def token_request_ids(self) -> set[str]:
        return {o.request_id for o in self.all() if o.token}

    def summary(self) -> dict[str, dict[str, int]]:
        with self.lock:
            return {phase: {str(k): v for k, v in sorted(collections.Counter(o.status for o in out).items())}
                    for phase, out in self.outcomes.items()}


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


class Flows:
    """The mixed flows of the benchmark, each one request at a time, recorded in ``recorder``."""

    def __init__(self, target: Target, recorder: Recorder, timeout: float = 15.0) -> None:
        self.target = target
        self.recorder = recorder
        self.timeout = timeout

    def _send(self, http_session: requests.Session, step: str, method: str, path: str,
              token_expected: bool = False, introspection: bool = False, **kwargs: Any) -> requests.Response | None:
        request_id = uuid.uuid4().hex
        headers = {"X-Request-ID": request_id, **kwargs.pop("headers", {})}
        started = time.monotonic()
        try:
            response = http_session.request(method, self.target.base + path, headers=headers,
                                            allow_redirects=False, timeout=self.timeout, **kwargs)
        except requests.RequestException:
            self.recorder.add(Outcome(step, 0, request_id, seconds=time.monotonic() - started))
            return None
        self.target.keep_secure_cookies(http_session)
        token = token_expected and response.status_code == 200 and "access_token" in response.text
        active = response.json().get("active") is True if introspection and response.status_code == 200 else None
        self.recorder.add(Outcome(step, response.status_code, request_id, token=token,
                                  seconds=time.monotonic() - started, active=active))
        return response

    def client_credentials(self, http_session: requests.Session, auth: str, step: str) -> str | None:
        """The access token of a client-credentials grant, or None."""
        response = self._send(http_session, step, "POST", f"{self.target.issuer_path}/token", token_expected=True,
                              data={"grant_type": "client_credentials"}, headers={"Authorization": auth})
        if response is None or response.status_code != 200:
            return None
        return response.json().get("access_token")

    def sign_in(self, http_session: requests.Session, username: str | None = None) -> bool:
        """Password sign-in with a fresh browser session; True when it ended signed in."""
        http_session.cookies.clear()
        page = self._send(http_session, "login page", "GET", f"{self.target.issuer_path}/login")
        if page is None or page.status_code != 200 or not CSRF_RE.search(page.text):
            return False
        csrf = CSRF_RE.search(page.text)
        assert csrf is not None
        login = f"{self.target.issuer_path}/login"
        response = self._send(http_session, "sign-in", "POST", login, headers={"Referer": self.target.origin + login},
                              data={
            "csrfmiddlewaretoken": csrf.group(1), "username": username or self.target.info["user"],
            "password": self.target.info["password"], "next": f"{self.target.issuer_path}/account/"})
        return (response is not None and response.status_code == 302
                and response.headers.get("Location", "").endswith("/account/"))

    def password_reset(self, http_session: requests.Session, email: str) -> requests.Response | None:
        """Ask for a reset link by email (the page answers the same for any address)."""
        path = f"{self.target.issuer_path}/password/reset/"
        page = self._send(http_session, "reset page", "GET", path)
        csrf = CSRF_RE.search(page.text) if page is not None else None
        if csrf is None:
            return page
        return self._send(http_session, "reset request", "POST", path, headers={"Referer": self.target.origin + path},
                          data={"csrfmiddlewaretoken": csrf.group(1), "email": email})

    def code_flow(self, http_session: requests.Session) -> str | None:
        """Authorization code + PKCE in a signed-in session; the refresh token, or None."""
        info = self.target.info
        verifier, challenge = _pkce()
        query = urlencode({"response_type": "code", "client_id": info["web_client_id"],
                           "redirect_uri": info["redirect_uri"], "scope": "openid", "state": secrets.token_hex(8),
                           "code_challenge": challenge, "code_challenge_method": "S256"})
        response = self._send(http_session, "authorize", "GET", f"{self.target.issuer_path}/authorize?{query}")
        if response is None or response.status_code != 302:
            return None
        location = response.headers.get("Location", "")
        if not location.startswith(info["redirect_uri"]):
            return None
        code = parse_qs(urlsplit(location).query).get("code", [""])[0]
        tokens = self._send(http_session, "code exchange", "POST", f"{self.target.issuer_path}/token",
                            token_expected=True, headers={"Authorization": info["web_auth"]},
                            data={"grant_type": "authorization_code", "code": code,
                                  "redirect_uri": info["redirect_uri"], "code_verifier": verifier})
        if tokens is None or tokens.status_code != 200:
            return None
        return tokens.json().get("refresh_token")

    def refresh(self, http_session: requests.Session, refresh_token: str) -> str | None:
        response = self._send(http_session, "refresh", "POST", f"{self.target.issuer_path}/token",
                              token_expected=True, headers={"Authorization": self.target.info["web_auth"]},
                              data={"grant_type": "refresh_token", "refresh_token": refresh_token})
        if response is None or response.status_code != 200:
            return None
        return response.json().get("refresh_token")

    def introspect(self, http_session: requests.Session, token: str, auth: str,
                   step: str = "introspect") -> requests.Response | None:
        """RFC 7662 introspection; the outcome keeps whether the answer said active (a soak
        counts an inactive answer for a token just issued as an error; with Redis down a JWT's
        is inactive by design, the deny list failing closed)."""
        return self._send(http_session, step, "POST", f"{self.target.issuer_path}/introspect",
                          introspection=True, data={"token": token}, headers={"Authorization": auth})

    def jwks(self, http_session: requests.Session) -> None:
        self._send(http_session, "JWKS", "GET", f"{self.target.issuer_path}/jwks.json")

    def mixed_round(self, http_session: requests.Session, state: dict[str, Any]) -> None:
        """One round of the benchmark's scenarios: both client-credentials grants (opaque and
        JWT access tokens), each token introspected, the JWKS document, a password sign-in
        (every few rounds), a code + PKCE exchange in the signed-in session, and the refresh
        of its token."""
        info = self.target.info
        opaque = self.client_credentials(http_session, info["cc_auth"], "client credentials (opaque)")
        if opaque:
            self.introspect(http_session, opaque, info["cc_auth"], "introspect (opaque)")
        signed = self.client_credentials(http_session, info["cc_jwt_auth"], "client credentials (JWT)")
        if signed:
            self.introspect(http_session, signed, info["cc_jwt_auth"], "introspect (JWT)")
        self.jwks(http_session)
        if not state.get("signed_in") or state.get("rounds", 0) % 5 == 0:
            state["signed_in"] = self.sign_in(http_session)
        state["rounds"] = state.get("rounds", 0) + 1
        if state["signed_in"]:
            refresh_token = self.code_flow(http_session)
            if refresh_token is None:
                state["signed_in"] = False
            else:
                self.refresh(http_session, refresh_token)


class Load:
    """``threads`` threads running ``Flows.mixed_round`` until stopped (or ``work`` instead)."""

    def __init__(self, flows: Flows, threads: int = 4,
                 work: Callable[[Flows, requests.Session, dict[str, Any]], None] | None = None) -> None:
        self.flows = flows
        self.stop_event = threading.Event()
        self.work = work or (lambda f, s, state: f.mixed_round(s, state))
        self.threads = [threading.Thread(target=self._run, daemon=True, name=f"load-{n}") for n in range(threads)]
        self.errors: list[BaseException] = []

    def _run(self) -> None:
        http_session = self.flows.target.session()
        state: dict[str, Any] = {}
        try:
            while not self.stop_event.is_set():
                self.work(self.flows, http_session, state)
        except BaseException as exc:  # noqa: BLE001 - reported by stop()
            self.errors.append(exc)

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(timeout=60)
        if self.errors:
            raise RuntimeError(f"a load thread failed: {self.errors[0]!r}") from self.errors[0]


def percentile(values: list[float], fraction: float) -> float:
    """The ``fraction`` quantile (nearest rank) of ``values``; 0.0 for none."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * len(ordered))) - 1))]
