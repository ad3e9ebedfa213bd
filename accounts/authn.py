"""What the browser session knows about how and when its user authenticated.

Recorded at login and read by the authorization endpoint to fill the ID token's
auth_time, sid, amr and acr, and to enforce max_age and prompt=login.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from django.contrib.auth import login
from django.http import HttpRequest

AUTHN_SESSION_KEY = "_tessera_authn"

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
    login(request, user, backend="accounts.backends.TenantModelBackend")
    acr = ACR_MULTI_FACTOR if "mfa" in amr or len(set(amr)) > 1 else ACR_SINGLE_FACTOR
    authn = Authentication(
        sid=secrets.token_urlsafe(16), auth_time=int(time.time()), amr=tuple(amr), acr=acr
    )
    request.session[AUTHN_SESSION_KEY] = {
        "sid": authn.sid, "auth_time": authn.auth_time, "amr": list(authn.amr), "acr": authn.acr,
    }
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
