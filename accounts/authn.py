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
from typing import Any

from django.contrib.auth import get_user_model, login, logout
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare

from audit import context as audit_context

AUTHN_SESSION_KEY = "_tessera_authn"
PENDING_SESSION_KEY = "_tessera_pending"
PENDING_TTL = 600.0  # seconds between the password and the second factor
_SEEN_EVERY = 60.0  # the idle clock is written at most once a minute
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


def sign_in(request: HttpRequest, user, amr: list[str], *, idle_timeout: int = 0,
            absolute_timeout: int = 0, fresh_methods: tuple[str, ...] = ()) -> Authentication:
    """Log ``user`` in (new session key) and record a fresh authentication event.

    ``amr`` lists the RFC 8176 methods used; "mfa" in it makes the session multi-factor
    (acr "2"). The timeouts (seconds, 0: none) come from the tenant's policy at this sign-in
    and hold for the session's life; ``fresh_methods`` were used just now (the others of a
    step-up keep the time they were used at). The audit event comes from Django's user_logged_in
    signal (audit.signals), which reads the methods used from ``request.tessera_amr``.
    """
    amr = list(dict.fromkeys(amr))
    request.tessera_amr = amr  # type: ignore[attr-defined]
    demands = request.session.get(REAUTH_SESSION_KEY)  # login() flushes a session of another user
    before = current_authentication(request) if request.user.is_authenticated else None
    same_user = before is not None and request.user.pk == user.pk
    earlier_used = (request.session.get(AUTHN_SESSION_KEY) or {}).get("used")
    request.session.pop(PENDING_SESSION_KEY, None)
    login(request, user, backend="accounts.backends.TenantModelBackend")
    now = time.time()
    acr = ACR_MULTI_FACTOR if "mfa" in amr else ACR_SINGLE_FACTOR
    # A step-up (or re-authentication) of the same person stays the same session (sid), so
    # the ID tokens already issued for it still name it at sign-out.
    sid = before.sid if same_user and before is not None else secrets.token_urlsafe(16)
    authn = Authentication(sid=sid, auth_time=int(now), amr=tuple(amr), acr=acr)
    # When each method was last used: a step-up keeps the password's time and adds the factor's.
    used = {m: t for m, t in (earlier_used or {}).items() if m in amr} if same_user else {}
    used.update({m: int(now) for m in amr if m not in used or m in fresh_methods})
    info = audit_context.current()
    request.session[AUTHN_SESSION_KEY] = {
        "sid": authn.sid, "auth_time": authn.auth_time, "at": now, "amr": list(authn.amr), "acr": authn.acr,
        "seen": now, "idle": int(idle_timeout), "absolute": int(absolute_timeout), "used": used,
        # Where from, for the account page's list of sessions (accounts.sessions).
        "ip": info.ip, "ua": info.user_agent[:256],
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
    now = time.time()
    idle, absolute = int(data.get("idle", 0)), int(data.get("absolute", 0))
    if (absolute and now - float(data["at"]) > absolute) or (idle and now - float(data.get("seen", 0)) > idle):
        logout(request)  # the session outlived its policy: it ends here (Django's logged-out signal audits it)
        return None
    if now - float(data.get("seen", 0)) > _SEEN_EVERY:
        data["seen"] = now
        data["ip"] = audit_context.current().ip or data.get("ip", "")
        request.session[AUTHN_SESSION_KEY] = data
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


# -- between the password and the second factor --------------------------------------------


@dataclass(frozen=True)
class PendingSignIn:
    """A sign-in that passed its first step(s) and waits for a second factor. The session is
    not authenticated by it: no page, code or token is given on its strength."""

    user: Any
    amr: tuple[str, ...]
    enrol: bool  # the policy requires a factor the user does not have yet
    purpose: str  # "sign_in" or "step_up"
    # Set when the risk score sent a password-only sign-in here (accounts.risk): the score,
    # and whether the answer is a code sent by email (a user with no factor).
    risk: dict | None = None


def await_second_factor(request: HttpRequest, user, amr: list[str], *, enrol: bool, purpose: str,
                        risk: dict | None = None) -> None:
    """Remember that ``user`` passed ``amr`` and must now pass a second factor (or enrol one).

    A new session key either way: whoever held the old one learns nothing of the new."""
    request.session.cycle_key()
    request.session[PENDING_SESSION_KEY] = {
        "uid": str(user.uid), "amr": list(amr), "at": time.time(), "enrol": enrol, "purpose": purpose,
        # A password change or reset meanwhile voids the pending sign-in (as it does sessions).
        "hash": user.get_session_auth_hash(),
        "risk": risk,
    }


def pending_sign_in(request: HttpRequest) -> PendingSignIn | None:
    """The session's sign-in waiting for a second factor, or None (none, expired, or its user
    gone or deactivated)."""
    data = request.session.get(PENDING_SESSION_KEY)
    if not data:
        return None
    if time.time() - float(data.get("at", 0)) > PENDING_TTL:
        del request.session[PENDING_SESSION_KEY]
        return None
    user = get_user_model().objects.filter(uid=data["uid"], is_active=True, locked=False).first()
    if user is None or not constant_time_compare(data.get("hash", ""), user.get_session_auth_hash()):
        return None
    return PendingSignIn(user=user, amr=tuple(data["amr"]), enrol=bool(data.get("enrol")),
                         purpose=str(data.get("purpose", "sign_in")), risk=data.get("risk"))


def abandon_pending(request: HttpRequest) -> None:
    request.session.pop(PENDING_SESSION_KEY, None)
