"""The user model: every user belongs to exactly one tenant."""

from __future__ import annotations

import uuid
from typing import ClassVar, Self

from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.db import models
from django.db.models.functions import Lower

from tenants.managers import TenantScopedUserManager
from tenants.models import TenantOwned


class User(TenantOwned, AbstractUser):
    """A person who signs in at one tenant. Username and email are unique within the tenant only."""

    username = models.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Unique within the tenant. Letters, digits and @/./+/-/_ only.",
    )
    email = models.EmailField(blank=True)
    email_verified = models.BooleanField(default=False)
    # The OpenID "sub": stable, opaque, never reused; unlike the pk it reveals no counts.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # OpenID's updated_at: when the profile last changed (not when the account was created).
    updated = models.DateTimeField(auto_now=True)

    # The user-manager flavour of TenantOwned's scoped manager (UserManager's helpers, scoped).
    objects: ClassVar[TenantScopedUserManager[User]] = TenantScopedUserManager()  # type: ignore[assignment]
    unscoped: ClassVar[UserManager[Self]] = UserManager()

    REQUIRED_FIELDS = ["email"]

    class Meta:
        base_manager_name = "unscoped"
        default_manager_name = "objects"
        constraints = [
            models.UniqueConstraint("tenant", Lower("username"), name="user_username_unique_per_tenant"),
            models.UniqueConstraint(
                "tenant",
                Lower("email"),
                condition=~models.Q(email=""),
                name="user_email_unique_per_tenant",
            ),
        ]

    def __str__(self) -> str:
        return self.username


# The second factors' models live in accounts.devices and are imported here, after User:
# django-otp-webauthn's models module asks for the user model when it is imported.
from accounts.devices import (  # noqa: E402
    Passkey,
    PasskeyAttestation,
    RecoveryCode,
    RecoveryCodeSet,
    TenantDeviceManager,
    TOTPDevice,
)

__all__ = ["Passkey", "PasskeyAttestation", "RecoveryCode", "RecoveryCodeSet", "TOTPDevice",
           "TenantDeviceManager", "User"]
