"""Account services: creating users within a tenant."""

from __future__ import annotations

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from accounts import events
from core.actors import Actor
from tenants.context import require_tenant
from tenants.services import policy_for


def create_user(*, username: str, email: str, password: str, email_verified: bool = False,
                first_name: str = "", last_name: str = "", actor: Actor | None = None):
    """Create a user in the current tenant; the password must pass the password validators and
    the tenant's minimum length (its security policy)."""
    User = get_user_model()
    if email:
        validate_email(email)
    user = User(username=username, email=email.strip(), email_verified=email_verified,
                first_name=first_name, last_name=last_name)
    user.full_clean(exclude=["password"], validate_unique=False)
    password_validation.validate_password(password, user)
    # The tenant's own minimum, when it asks for more than the deployment's validators.
    password_validation.MinimumLengthValidator(policy_for(require_tenant()).password_min_length).validate(password)
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
