"""Account services: creating users within a tenant."""

from __future__ import annotations

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from accounts import events
from accounts.signals import credentials_changed
from core.actors import Actor


def create_user(*, username: str, email: str, password: str, email_verified: bool = False,
                first_name: str = "", last_name: str = "", actor: Actor | None = None):
    """Create a user in the current tenant; the password must pass the password validators (the
    tenant's minimum length among them)."""
    User = get_user_model()
    if email:
        validate_email(email)
    user = User(username=username, email=email.strip(), email_verified=email_verified,
                first_name=first_name, last_name=last_name)
    user.full_clean(exclude=["password"], validate_unique=False)
    password_validation.validate_password(password, user)  # the tenant's minimum length included
    if User.objects.filter(username__iexact=username).exists():
        raise ValidationError(f"Username {username!r} is taken in this tenant.")
    if email and User.objects.filter(email__iexact=email).exists():
        raise ValidationError(f"Email {email!r} is already used in this tenant.")
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
