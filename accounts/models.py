"""The user model: every user belongs to exactly one tenant."""

from __future__ import annotations

import uuid
from typing import ClassVar, Self

from django.contrib.auth.models import AbstractUser, UserManager
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.contrib.sessions.base_session import AbstractBaseSession
from django.db import models
from django.db.models.functions import Lower

from tenants.managers import TenantScopedUserManager
from tenants.models import AdminRole, TenantOwned


class User(TenantOwned, AbstractUser):
    """A person who signs in at one tenant. Username and email are unique within the tenant only."""

    username = models.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="Unique within the tenant. Letters, digits and @/./+/-/_ only.",
    )
    email = models.EmailField(blank=True)
    email_verified = models.BooleanField(default=False)
    # Created by its owner on the registration page: signs in only once the email is verified.
    self_registered = models.BooleanField(default=False, editable=False)
    # The OpenID "sub": stable, opaque, never reused; unlike the pk it reveals no counts.
    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # The admin surfaces (the API, Django admin): none, read-only or full. Tenant admins sign in
    # through the tenant's MFA policy like everyone, "required for tenant admins" included.
    admin_role = models.CharField(max_length=16, choices=AdminRole.choices, default=AdminRole.NONE, blank=True)
    # Locked by an admin: no sign-in (the same answer as a wrong password) until unlocked.
    # Unlike deactivation, a lock is meant to be lifted; both end the user's sessions and tokens.
    locked = models.BooleanField(default=False, editable=False)
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

    @property
    def is_tenant_admin(self) -> bool:
        return self.admin_role in (AdminRole.READ_ONLY, AdminRole.FULL)


class LoginThrottle(TenantOwned):
    """A brute-force counter (accounts.lockout). Tenant-owned under row-level security; the
    username is the identifier as typed (lower-cased), whether or not such a user exists.

    - ``account``: one username from one IP, or from one browser known to that user (``device``
      set, ``ip`` empty): locks at the policy's failure limit for its cool-off;
    - ``user``: one username from browsers it has never signed in from, any IP: slowed down
      progressively, never locked;
    - ``ip``: one IP, any username (password spraying): locks at the policy's IP limit.
    """

    class Scope(models.TextChoices):
        ACCOUNT = "account", "Username and IP or known browser"
        USER = "user", "Username from unknown browsers"
        IP = "ip", "IP address"

    scope = models.CharField(max_length=8, choices=Scope.choices)
    username = models.CharField(max_length=254, blank=True, default="")
    ip = models.CharField(max_length=45, blank=True, default="")
    device = models.CharField(max_length=64, blank=True, default="", help_text="SHA-256 of the device cookie.")
    failures = models.PositiveIntegerField(default=0)
    last_failure = models.DateTimeField(null=True, blank=True)

    class Meta:
        base_manager_name = "unscoped"
        constraints = [models.UniqueConstraint(fields=["tenant", "scope", "username", "ip", "device"],
                                               name="accounts_loginthrottle_one_per_key")]
        indexes = [models.Index(fields=["tenant", "last_failure"], name="accounts_throttle_expiry")]

    def __str__(self) -> str:
        return f"{self.scope} {self.username or '-'} {self.ip or self.device[:8] or '-'}: {self.failures}"


class BrowserSession(TenantOwned, AbstractBaseSession):  # type: ignore[misc]  # TenantOwned's scoped objects wins
    """A browser session (SESSION_ENGINE = "accounts.sessions"): Django's session row, which
    also says whose it is and from where, so a person can see and end their sessions.

    Every column but the key and data is derived from the session data at each save
    (accounts.sessions.SessionStore.create_model_instance): nothing here is a second source of
    truth. The session key is Django's, stored as Django stores it.
    """

    user = models.ForeignKey(User, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    sid = models.CharField(max_length=64, blank=True, default="", help_text="The OpenID sid of the sign-in.")
    ip = models.CharField(max_length=45, blank=True, default="")
    user_agent = models.CharField(max_length=256, blank=True, default="")
    signed_in_at = models.DateTimeField(null=True, blank=True)
    last_seen = models.DateTimeField(null=True, blank=True)

    class Meta:
        base_manager_name = "unscoped"
        indexes = [models.Index(fields=["tenant", "user"], name="accounts_session_by_user"),
                   models.Index(fields=["expire_date"], name="accounts_session_expiry")]

    @classmethod
    def get_session_store_class(cls):
        from accounts.sessions import SessionStore

        return SessionStore


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

__all__ = ["BrowserSession", "LoginThrottle", "Passkey", "PasskeyAttestation", "RecoveryCode", "RecoveryCodeSet",
           "TOTPDevice", "TenantDeviceManager", "User"]
