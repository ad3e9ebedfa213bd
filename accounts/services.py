"""Account services: creating and managing the users of the current tenant.

The admin API and Django admin call the same functions: each is atomic, takes the acting
admin as ``actor`` (core.actors) and records its audit event (accounts.events). A lock or a
deactivation ends the user's sessions and, through ``accounts.signals.sessions_ended``, idp
revokes every token they hold, in the same transaction.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from accounts import events
from accounts.signals import credentials_changed
from core.actors import Actor, ActorType
from tenants.models import AdminRole

if TYPE_CHECKING:
    from accounts.models import User


def _check_unique(user: Any, *, username: str | None = None, email: str | None = None) -> None:
    """Username and email are unique within the tenant, whatever their case."""
    others = get_user_model().objects.exclude(pk=user.pk) if user.pk else get_user_model().objects.all()
    if username is not None and others.filter(username__iexact=username).exists():
        raise ValidationError({"username": f"Username {username!r} is taken in this tenant."})
    if email and others.filter(email__iexact=email).exists():
        raise ValidationError({"email": f"Email {email!r} is already used in this tenant."})


def _validate_email(email: str) -> None:
    try:
        validate_email(email)
    except ValidationError as exc:
        raise ValidationError({"email": exc.messages}) from exc


def create_user(*, username: str, email: str, password: str | None, email_verified: bool = False,
                first_name: str = "", last_name: str = "", admin_role: str = AdminRole.NONE,
                actor: Actor | None = None) -> User:
    """Create a user in the current tenant; the password must pass the password validators (the
    tenant's minimum length among them). Without a password (None) the user has an unusable
    one and sets theirs through the password-reset flow. Errors name their field."""
    User = get_user_model()
    email = email.strip()
    if email:
        _validate_email(email)
    user = User(username=username, email=email, email_verified=email_verified,
                first_name=first_name, last_name=last_name, admin_role=admin_role)
    user.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
    if password is not None:
        try:
            password_validation.validate_password(password, user)  # the tenant's minimum length included
        except ValidationError as exc:
            raise ValidationError({"password": exc.messages}) from exc
    _check_unique(user, username=username, email=email)
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    try:
        with transaction.atomic():
            user.save()
            events.user_created(user, actor=actor)
    except IntegrityError as exc:
        raise ValidationError("Username or email is already taken in this tenant.") from exc
    return user


def change_password(user, new_password: str, *, reason: str = "changed", keep_sid: str = "") -> None:
    """Set a validated new password; every token the user holds is revoked (idp listens to
    ``accounts.signals.credentials_changed``), every session of theirs ends but the sign-in
    ``keep_sid`` (the one making the change), and the change is an audit event."""
    from accounts.sessions import end_sessions

    password_validation.validate_password(new_password, user)
    with transaction.atomic():
        user.set_password(new_password)
        user.save(update_fields=["password"])
        events.password_changed(user, reason=reason)
        credentials_changed.send(sender=type(user), user=user, reason=reason)
        end_sessions(user, reason=f"password {reason}", keep_sid=keep_sid)


# -- an admin managing a user -----------------------------------------------------------------

# What update_user may change: profile, email and its verification, the admin role. Never a
# credential (passwords go through the reset flow; factors are reset, not edited).
USER_FIELDS = frozenset({"username", "email", "first_name", "last_name", "email_verified", "admin_role"})


def _locked_row(user: User, *, admins_first: bool = False) -> User:
    """The user's row, locked for this transaction and read afresh. ``admins_first``: lock the
    tenant's full admins (pk order) before it, as every change that may leave the tenant
    without one does, so two such changes at once queue instead of deadlocking."""
    users = get_user_model().objects
    if admins_first:
        list(users.select_for_update().filter(admin_role=AdminRole.FULL, is_active=True, locked=False)
             .order_by("pk").values_list("pk", flat=True))
    return users.select_for_update().get(pk=user.pk)


def _is_full_admin(user: Any) -> bool:
    return bool(user.admin_role == AdminRole.FULL and user.is_active and not user.locked)


def _keep_a_full_admin(user: User, *, change: str) -> None:
    """Refuse to leave the tenant without an active, unlocked full admin. The tenant's full
    admins are locked (rows, in pk order) first, so two admins demoting each other at once
    cannot both pass."""
    if not _is_full_admin(user):
        return
    admins = list(get_user_model().objects.select_for_update().filter(
        admin_role=AdminRole.FULL, is_active=True, locked=False).order_by("pk").values_list("pk", flat=True))
    if admins == [user.pk]:
        raise ValidationError({"admin_role" if change == "demote" else "non_field_errors":
                               f"This is the tenant's last active full admin: it cannot be {change}d. "
                               "Give another user the full admin role first."})


_ROLE_RANK = {AdminRole.NONE: 0, AdminRole.READ_ONLY: 1, AdminRole.FULL: 2}


def _is_self(user: Any, actor: Actor) -> bool:
    return actor.type == ActorType.USER and actor.id == str(user.uid)


def update_user(user: User, *, actor: Actor, **changes: Any) -> User:
    """Change the fields ``changes`` names (among USER_FIELDS); an audit event lists what
    changed. An admin cannot take their own full role away, nor demote the tenant's last
    active full admin. Errors name their field."""
    unknown = set(changes) - USER_FIELDS
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in sorted(unknown)})
    with transaction.atomic():
        row = _locked_row(user, admins_first="admin_role" in changes)
        if "email" in changes:
            changes["email"] = changes["email"].strip()
            if changes["email"]:
                _validate_email(changes["email"])
            if changes["email"].lower() != row.email.lower() and "email_verified" not in changes:
                changes["email_verified"] = False  # a new address is not verified because the old one was
        diff = {name: (getattr(row, name), value) for name, value in changes.items() if getattr(row, name) != value}
        if not diff:
            return row
        if "admin_role" in diff and row.admin_role == AdminRole.FULL:
            if _is_self(row, actor):
                raise ValidationError({"admin_role": "You cannot take your own full admin role away: "
                                                     "another full admin must do it."})
            _keep_a_full_admin(row, change="demote")
        for name, (_before, after) in diff.items():
            setattr(row, name, after)
        _check_unique(row, username=row.username if "username" in diff else None,
                      email=row.email if "email" in diff else None)  # errors naming the field
        row.full_clean(exclude=["password"], validate_unique=False, validate_constraints=False)
        try:
            with transaction.atomic():
                row.save(update_fields=[*diff, "updated"])
        except IntegrityError as exc:
            raise ValidationError("Username or email is already taken in this tenant.") from exc
        if "email" in diff:
            diff["email"] = ("(changed)", "(changed)")  # the event says it changed, not the addresses
        events.user_updated(row, actor=actor, changes=diff)
        if "admin_role" in diff and _ROLE_RANK[diff["admin_role"][1]] > _ROLE_RANK[diff["admin_role"][0]]:
            # More power than the user signed in with: they sign in again, under the policy an
            # admin is held to ("required for tenant admins" asks them for a second factor), and
            # their tokens, minted for the smaller role, go.
            _end_everything(row, actor=actor, reason="admin role raised")
    _copy(row, user)
    return user


def _copy(row: Any, user: Any) -> None:
    """Reflect the saved row in the caller's instance."""
    for name in (*USER_FIELDS, "is_active", "locked", "updated"):
        setattr(user, name, getattr(row, name))


def _end_everything(user: User, *, actor: Actor, reason: str) -> int:
    """End the user's sessions and revoke every token they hold (idp, through the signal)."""
    from accounts.sessions import end_sessions

    return len(end_sessions(user, reason=reason, all_tokens=True, actor=actor))


def deactivate_user(user: User, *, actor: Actor) -> User:
    """Deactivate the user: no sign-in, their sessions end and their tokens are revoked. Not the
    tenant's last active full admin."""
    with transaction.atomic():
        row = _locked_row(user, admins_first=True)
        if row.is_active:
            _keep_a_full_admin(row, change="deactivate")
            row.is_active = False
            row.save(update_fields=["is_active", "updated"])
            events.user_deactivated(row, actor=actor, sessions=_end_everything(row, actor=actor,
                                                                              reason="user deactivated"))
    _copy(row, user)
    return user


def reactivate_user(user: User, *, actor: Actor) -> User:
    """Let a deactivated user sign in again (an admin lock, if any, stays)."""
    with transaction.atomic():
        row = _locked_row(user)
        if not row.is_active:
            row.is_active = True
            row.save(update_fields=["is_active", "updated"])
            events.user_reactivated(row, actor=actor)
    _copy(row, user)
    return user


def lock_user(user: User, *, actor: Actor) -> User:
    """Lock the user (sign-in refused with the wrong-password answer until unlocked): their
    sessions end and their tokens are revoked. Not the tenant's last active full admin."""
    with transaction.atomic():
        row = _locked_row(user, admins_first=True)
        if not row.locked:
            _keep_a_full_admin(row, change="lock")
            row.locked = True
            row.save(update_fields=["locked", "updated"])
            events.user_locked(row, actor=actor, sessions=_end_everything(row, actor=actor, reason="user locked"))
    _copy(row, user)
    return user


def unlock_user(user: User, *, actor: Actor) -> User:
    """Lift the admin lock, and clear the brute-force counters of the username (accounts.lockout)."""
    from accounts import lockout
    from accounts.models import LoginThrottle

    with transaction.atomic():
        row = _locked_row(user)
        was_locked = row.locked
        if was_locked:
            row.locked = False
            row.save(update_fields=["locked", "updated"])
        counters = (lockout.unlock(username=row.username, actor=actor)
                    if LoginThrottle.objects.filter(username=row.username.lower()).exists() else 0)
        if was_locked or counters:
            events.user_unlocked(row, actor=actor, counters=counters)
    _copy(row, user)
    return user


def reset_mfa(user: User, *, actor: Actor) -> dict[str, int]:
    """Remove every second factor of the user: authenticator apps, passkeys, recovery codes. The
    user enrols again at their next sign-in if the policy requires a factor. Returns how many of
    each were removed."""
    from accounts.models import Passkey, RecoveryCode, RecoveryCodeSet, TOTPDevice

    with transaction.atomic():
        row = _locked_row(user)
        codes = RecoveryCode.objects.filter(code_set__user=row).count()
        removed = {
            "totp": TOTPDevice.objects.filter(user=row).delete()[1].get(TOTPDevice._meta.label, 0),
            "passkeys": Passkey.objects.filter(user=row).delete()[1].get(Passkey._meta.label, 0),
            "recovery_codes": codes,
        }
        RecoveryCodeSet.objects.filter(user=row).delete()
        events.mfa_reset(row, actor=actor, **removed)
    return removed


def end_user_sessions(user: User, *, actor: Actor, sid: str | None = None) -> list[str]:
    """End one session of the user (by its sid) or all of them, with the tokens issued through
    them; the sids ended (empty: nothing matched, and nothing is recorded)."""
    from accounts.sessions import end_sessions

    reason = "session ended by an admin" if sid is not None else "sessions ended by an admin"
    with transaction.atomic():
        sids = end_sessions(user, reason=reason, only_sid=sid, actor=actor)
        if sids:
            events.sessions_revoked(user, actor=actor, sids=sids, reason=reason)
    return sids
