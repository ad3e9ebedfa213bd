"""The accounts app's audit events (sign-in and sign-out come from Django's auth signals,
received in audit.signals)."""

from __future__ import annotations

from typing import Any

from audit.models import Action, Outcome
from audit.recording import record
from core.actors import ANONYMOUS, Actor, system_actor, user_actor


def user_created(user: Any, *, actor: Actor | None) -> None:
    record(Action.USER_CREATED, actor=actor or system_actor("tessera"), target=("user", user.uid),
           subject=user.username, details={"username": user.username, "email_verified": user.email_verified})


def _user_target(user: Any) -> tuple[str, Any]:
    return ("user", user.uid)


def factor_enrolled(user: Any, *, kind: str, name: str) -> None:
    record(Action.MFA_ENROLLED, actor=user_actor(user), subject=user.username, target=_user_target(user),
           details={"factor": kind, "name": name[:100]})


def factor_removed(user: Any, *, kind: str, name: str) -> None:
    record(Action.MFA_REMOVED, actor=user_actor(user), subject=user.username, target=_user_target(user),
           details={"factor": kind, "name": name[:100]})


def recovery_codes_generated(user: Any, *, count: int, replaced: bool) -> None:
    record(Action.MFA_RECOVERY_CODES_GENERATED, actor=user_actor(user), subject=user.username,
           target=_user_target(user), details={"count": count, "replaced_previous_set": replaced})


def factor_verified(user: Any, *, kind: str, purpose: str) -> None:
    """A second factor (or a passwordless passkey) passed; ``purpose``: sign_in, step_up,
    passwordless."""
    record(Action.MFA_VERIFIED, actor=user_actor(user), subject=user.username, target=_user_target(user),
           details={"factor": kind, "purpose": purpose})


def factor_failed(user: Any | None, *, kind: str, reason: str) -> None:
    """A second-factor answer was refused (wrong, replayed, throttled or unknown credential)."""
    record(Action.MFA_FAILED, actor=user_actor(user) if user is not None else ANONYMOUS,
           outcome=Outcome.FAILURE, subject=user.username if user is not None else "",
           target=_user_target(user) if user is not None else None, assess_risk=True,
           details={"factor": kind, "reason": reason})


def step_up_requested(user: Any, *, reason: str) -> None:
    """A signed-in session is asked for a second factor (acr_values or a factor change)."""
    record(Action.MFA_STEP_UP, actor=user_actor(user), subject=user.username, target=_user_target(user),
           details={"reason": reason})


def password_changed(user: Any, *, reason: str) -> None:
    record(Action.PASSWORD_CHANGED, actor=user_actor(user), subject=user.username, target=_user_target(user),
           details={"reason": reason})


def locked_out(*, scope: str, username: str, ip: str, known_browser: bool, cooloff: int) -> None:
    """A brute-force counter reached its limit (accounts.lockout): attempts wait ``cooloff``."""
    record(Action.LOCKED_OUT, actor=ANONYMOUS, outcome=Outcome.FAILURE, subject=username,
           details={"scope": scope, "username": username[:150], "ip": ip, "known_browser": known_browser,
                    "cooloff_seconds": cooloff})


def unlocked(*, username: str, ip: str, actor: Actor, counters: int) -> None:
    record(Action.UNLOCKED, actor=actor, subject=username,
           details={"username": username[:150], "ip": ip, "counters_cleared": counters})
