"""The accounts app's audit events (sign-in and sign-out come from Django's auth signals,
received in audit.signals)."""

from __future__ import annotations

from typing import Any

from audit.models import Action, Outcome
from audit.recording import record
from core.actors import ANONYMOUS, Actor, system_actor, user_actor


def user_created(user: Any, *, actor: Actor | None) -> None:
    record(Action.USER_CREATED, actor=actor or system_actor("tessera"), target=("user", user.uid),
           subject=user.username, details={"username": user.username, "email_verified": user.email_verified,
                                           "admin_role": user.admin_role,
                                           "password_set": user.has_usable_password()})


# -- an admin managing users (accounts.services; the admin API and Django admin) ------------


def user_updated(user: Any, *, actor: Actor, changes: dict[str, tuple[Any, Any]]) -> None:
    """An admin changed the user: the fields, each as [before, after] (profile fields, the
    email address, its verification, the admin role; never a credential)."""
    record(Action.USER_UPDATED, actor=actor, subject=user.username, target=_user_target(user),
           details={"fields": sorted(changes), "changes": {name: list(pair) for name, pair in changes.items()},
                    "by": "admin"})


def user_deactivated(user: Any, *, actor: Actor, sessions: int) -> None:
    record(Action.USER_DEACTIVATED, actor=actor, subject=user.username, target=_user_target(user),
           details={"sessions_ended": sessions})


def user_reactivated(user: Any, *, actor: Actor) -> None:
    record(Action.USER_REACTIVATED, actor=actor, subject=user.username, target=_user_target(user))


def user_locked(user: Any, *, actor: Actor, sessions: int) -> None:
    record(Action.USER_LOCKED, actor=actor, subject=user.username, target=_user_target(user),
           details={"sessions_ended": sessions})


def user_unlocked(user: Any, *, actor: Actor, counters: int) -> None:
    """The admin lock lifted; ``counters``: brute-force counters of the username cleared with it."""
    record(Action.USER_UNLOCKED, actor=actor, subject=user.username, target=_user_target(user),
           details={"counters_cleared": counters})


def mfa_reset(user: Any, *, actor: Actor, totp: int, passkeys: int, recovery_codes: int) -> None:
    """Every second factor of the user removed (how many of each; recovery codes: those unused).
    The detail names avoid secret nouns ("totp", "codes"), which audit.sanitise redacts."""
    record(Action.MFA_RESET, actor=actor, subject=user.username, target=_user_target(user),
           details={"totp_devices": totp, "passkeys": passkeys, "recovery_codes_removed": recovery_codes})


def sessions_revoked(user: Any, *, actor: Actor, sids: list[str], reason: str) -> None:
    """An admin ended sessions of the user (by sid, never the session key)."""
    record(Action.SESSIONS_REVOKED, actor=actor, subject=user.username, target=_user_target(user),
           details={"sids": sids, "reason": reason})


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


def email_sent(user: Any, *, kind: str) -> None:
    """An email went to the user (accounts.tasks): which kind, never its link or code."""
    action = Action.EMAIL_VERIFICATION_SENT if kind == "verify_email" else Action.EMAIL_SENT
    record(action, actor=system_actor("tessera mail"), subject=user.username, target=_user_target(user),
           details={"kind": kind})


def password_reset_requested(user: Any | None) -> None:
    """Someone asked for a reset link: for a user (the email is queued), or for an address no
    active user of the tenant has (recorded without the address typed)."""
    if user is None:
        record(Action.PASSWORD_RESET_REQUESTED, actor=ANONYMOUS, outcome=Outcome.FAILURE,
               details={"reason": "no active user with that email"})
        return
    record(Action.PASSWORD_RESET_REQUESTED, actor=ANONYMOUS, subject=user.username, target=_user_target(user))


def email_verified(user: Any) -> None:
    record(Action.EMAIL_VERIFIED, actor=user_actor(user), subject=user.username, target=_user_target(user),
           details={"email_domain": user.email.rsplit("@", 1)[-1]})


def registered(user: Any) -> None:
    record(Action.USER_REGISTERED, actor=user_actor(user), subject=user.username, target=_user_target(user),
           details={"username": user.username})


def profile_changed(user: Any, *, fields: list[str]) -> None:
    record(Action.USER_UPDATED, actor=user_actor(user), subject=user.username, target=_user_target(user),
           details={"fields": sorted(fields), "by": "self"})


def session_revoked(user: Any, *, sids: list[str], current: bool) -> None:
    record(Action.SESSION_REVOKED, actor=user_actor(user), subject=user.username, target=_user_target(user),
           details={"sids": sids, "current": current})


def signed_out_everywhere(user: Any, *, sessions: int) -> None:
    record(Action.SIGNED_OUT_EVERYWHERE, actor=user_actor(user), subject=user.username, target=_user_target(user),
           details={"sessions_ended": sessions})


def risk_step_up(user: Any, *, score: int, threshold: int, reasons: list[str], by_email: bool) -> None:
    """A sign-in that a password would have finished must pass a second factor: its score was
    above the tenant's threshold."""
    record(Action.RISK_STEP_UP, actor=user_actor(user), subject=user.username, target=_user_target(user),
           details={"score": score, "threshold": threshold, "reasons": reasons,
                    "factor": "email code" if by_email else "enrolled factor"})
