"""Risk-based sign-in: the audit trail's risk score (audit.risk) acts on a password sign-in.

A sign-in that the password alone would finish is scored first (failures for the username
and from the IP in the last hour, a browser or IP never seen with this user). Above the
tenant's ``risk_step_up_threshold``, from a browser that has not signed in as this user
before, it must pass the MFA step: with an enrolled factor when
the user has one, else with a six-digit code sent to the account's email address. Once it
passes, the user is emailed about the sign-in from a new browser or place, with a link to
the account page. The step-up and the emails are audit events; the score is on the sign-in's
own event as on every sign-in's.

The code is kept in the session as an HMAC under SECRET_KEY (never the code), lasts
``EMAIL_CODE_TTL`` seconds, works once, and each wrong answer counts against the username's
brute-force lock like a wrong TOTP code. The broker carries it to the mail task (it must be
in the email); it is useless after ten minutes or once used.
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from accounts import events, lockout, mail
from accounts.authn import PENDING_SESSION_KEY
from audit import context as audit_context
from audit import risk as audit_risk
from tenants.context import require_tenant

EMAIL_CODE_TTL = 600
_EMAIL_CODE_KEY = "_tessera_email_code"


def assess(user: Any) -> tuple[int, list[str]]:
    """(score, reasons) of a sign-in by ``user`` from this request's IP and browser."""
    info = audit_context.current()
    return audit_risk.assess(require_tenant().pk, user.username.lower(), info.ip, info.device)


def step_up_needed(user: Any, score: int, policy: Any) -> bool:
    """Above the threshold, from a browser that never signed in as this user. A browser the
    user has signed in from before is exempt: failures an attacker causes for the username
    (they count in the score) must not put its owner through a step-up at home."""
    if score <= policy.risk_step_up_threshold:
        return False
    return not lockout.known_browser(user.username.lower(), audit_context.current().device)


def record_step_up(user: Any, *, score: int, reasons: list[str], policy: Any, by_email: bool) -> dict:
    events.risk_step_up(user, score=score, threshold=policy.risk_step_up_threshold, reasons=reasons,
                        by_email=by_email)
    return {"score": score, "email": by_email}


def _digest(code: str, uid: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), f"sign-in-code:{uid}:{code}".encode(), "sha256").hexdigest()


def send_email_code(request: HttpRequest, user: Any) -> None:
    """A fresh code for the pending sign-in, by email (the previous one stops working)."""
    code = f"{secrets.randbelow(10**6):06d}"
    request.session[_EMAIL_CODE_KEY] = {"digest": _digest(code, str(user.uid)), "at": time.time()}
    mail.send(user, "sign_in_code", code=code, minutes=EMAIL_CODE_TTL // 60)


def check_email_code(request: HttpRequest, user: Any, answer: str) -> bool:
    """Whether ``answer`` is the pending sign-in's emailed code; a right one is spent."""
    held = request.session.get(_EMAIL_CODE_KEY)
    answer = (answer or "").replace(" ", "").strip()
    if not held or PENDING_SESSION_KEY not in request.session or not answer.isdigit() or len(answer) != 6:
        return False
    if time.time() - float(held.get("at", 0)) > EMAIL_CODE_TTL:
        request.session.pop(_EMAIL_CODE_KEY, None)
        return False
    if not hmac.compare_digest(held.get("digest", ""), _digest(answer, str(user.uid))):
        return False
    request.session.pop(_EMAIL_CODE_KEY, None)
    return True


def notify_new_sign_in(user: Any) -> None:
    """The stepped-up sign-in passed: tell the user, with where it came from."""
    info = audit_context.current()
    mail.send(user, "new_device", ip=info.ip or "?", user_agent=info.user_agent[:200] or "?")
