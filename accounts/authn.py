"""What the browser session knows about how and when its user authenticated.

Recorded at login and read by the authorization endpoint to fill the ID token's
auth_time, sid, amr and acr, and to enforce max_age and prompt=login: a flow that demands a
fresh sign-in (``demand_reauthentication``) is satisfied only by a sign-in made after the
demand, in the same browser session (``reauthenticated_for``), whatever URL is opened.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from django.contrib.auth import login
from django.http import HttpRequest

AUTHN_SESSION_KEY = "_tessera_authn"
REAUTH_SESSION_KEY = "_tessera_reauth"
_REAUTH_KEEP = 20  # open demands per session
_REAUTH_TTL = 3600.0  # seconds a demand stays open

# acr values we issue: "1" single factor, "2" multi-factor (advertised in discovery).
ACR_SINGLE_FACTOR = "1"
ACR_MULTI_FACTOR = "2"


@dataclass(frozen=True)
class Authentication:
    sid: str
    auth_time: int
    amr: tuple[str, ...]
    acr: str


def sign_in(request: HttpRequest, user, amr: list[str]) -> Authentication:
    """Log ``user`` in (new session key) and record a fresh authentication event.

    The audit event comes from Django's user_logged_in signal (audit.signals), which reads
    the methods used from ``request.tessera_amr``.
    """
    request.tessera_amr = list(amr)  # type: ignore[attr-defined]
    demands = request.session.get(REAUTH_SESSION_KEY)  # login() flushes a session of another user
    login(request, user, backend="accounts.backends.TenantModelBackend")
    now = time.time()
    acr = ACR_MULTI_FACTOR if "mfa" in amr or len(set(amr)) > 1 else ACR_SINGLE_FACTOR
    authn = Authentication(sid=secrets.token_urlsafe(16), auth_time=int(now), amr=tuple(amr), acr=acr)
    request.session[AUTHN_SESSION_KEY] = {
        "sid": authn.sid, "auth_time": authn.auth_time, "at": now, "amr": list(authn.amr), "acr": authn.acr,
    }
    if demands:
        request.session[REAUTH_SESSION_KEY] = demands
    return authn


def current_authentication(request: HttpRequest) -> Authentication | None:
    """The session's authentication record, or None when nobody is signed in."""
    if not request.user.is_authenticated:
        return None
    data = request.session.get(AUTHN_SESSION_KEY)
    if not data:
        return None
    return Authentication(
        sid=data["sid"], auth_time=int(data["auth_time"]), amr=tuple(data["amr"]), acr=data["acr"]
    )


def demand_reauthentication(request: HttpRequest, flow: str) -> None:
    """Remember that ``flow`` (an opaque key, e.g. a digest of an authorization request) needs
    a sign-in newer than now."""
    now = time.time()
    demands = {k: t for k, t in (request.session.get(REAUTH_SESSION_KEY) or {}).items() if now - t < _REAUTH_TTL}
    demands[flow] = now
    request.session[REAUTH_SESSION_KEY] = dict(sorted(demands.items(), key=lambda kv: kv[1])[-_REAUTH_KEEP:])


def reauthenticated_for(request: HttpRequest, flow: str) -> bool:
    """Whether the session signed in after ``flow`` demanded it."""
    demanded = (request.session.get(REAUTH_SESSION_KEY) or {}).get(flow)
    data = request.session.get(AUTHN_SESSION_KEY) if request.user.is_authenticated else None
    return demanded is not None and data is not None and float(data.get("at", 0)) >= demanded


def forget_reauthentication(request: HttpRequest, flow: str) -> None:
    """The flow completed: its demand is spent."""
    demands = request.session.get(REAUTH_SESSION_KEY) or {}
    if flow in demands:
        del demands[flow]
        request.session[REAUTH_SESSION_KEY] = demands
