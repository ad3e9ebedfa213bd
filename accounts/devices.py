"""Second factors: django-otp devices, tenant-owned (see accounts.factors for how they are used).

Imported by accounts.models after User is defined (django-otp-webauthn's models module asks
for the user model at import)."""

from __future__ import annotations

import uuid
from typing import ClassVar

from django.db import models
from django_otp.models import Device, DeviceManager, ThrottlingMixin, TimestampMixin
from django_otp_webauthn.models import (
    AbstractWebAuthnAttestation,
    AbstractWebAuthnCredential,
    WebAuthnCredentialQuerySet,
)

from tenants.managers import TenantScopedQuerySetMixin
from tenants.models import TenantOwned


class TenantDeviceManager(TenantScopedQuerySetMixin, DeviceManager):
    """django-otp's device manager (``devices_for_user``), scoped to the tenant in context."""


class TOTPDevice(TenantOwned, TimestampMixin, ThrottlingMixin, Device):
    """An authenticator app (RFC 6238, SHA-1, 6 digits, 30 s), as django-otp's stock TOTPDevice
    but with the seed sealed under the key-encryption key (``core.crypto.seal``, bound to the
    tenant and this device's uid) instead of kept in clear. Confirmed after one valid code."""

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    sealed_key = models.BinaryField(editable=False)
    step = models.PositiveSmallIntegerField(default=30)
    t0 = models.BigIntegerField(default=0)
    digits = models.PositiveSmallIntegerField(default=6)
    tolerance = models.PositiveSmallIntegerField(default=1)
    drift = models.SmallIntegerField(default=0)
    # The time step of the last accepted code: only a later step is accepted (no replay).
    last_t = models.BigIntegerField(default=-1)

    objects: ClassVar[TenantDeviceManager] = TenantDeviceManager()
    unscoped: ClassVar[models.Manager] = models.Manager()

    class Meta(Device.Meta):
        base_manager_name = "unscoped"
        verbose_name = "authenticator app"

    def get_throttle_factor(self) -> int:
        return 1


class RecoveryCodeSet(TenantOwned, TimestampMixin, ThrottlingMixin, Device):
    """A user's current recovery codes (one set per user; regenerating replaces it)."""

    objects: ClassVar[TenantDeviceManager] = TenantDeviceManager()
    unscoped: ClassVar[models.Manager] = models.Manager()

    class Meta(Device.Meta):
        base_manager_name = "unscoped"
        verbose_name = "recovery code set"
        constraints = [models.UniqueConstraint(fields=["tenant", "user"], name="accounts_one_recovery_set_per_user")]

    def get_throttle_factor(self) -> int:
        return 1


class RecoveryCode(TenantOwned):
    """One unused recovery code, as its keyed digest; deleted when used."""

    code_set = models.ForeignKey(RecoveryCodeSet, on_delete=models.CASCADE, related_name="codes")
    digest = models.CharField(max_length=64)

    class Meta:
        base_manager_name = "unscoped"
        constraints = [models.UniqueConstraint(fields=["code_set", "digest"], name="accounts_recovery_code_unique")]


class PasskeyManager(TenantScopedQuerySetMixin, DeviceManager.from_queryset(WebAuthnCredentialQuerySet)):  # type: ignore[misc]
    """django-otp-webauthn's credential manager, scoped to the tenant in context."""


class Passkey(TenantOwned, AbstractWebAuthnCredential):
    """A WebAuthn credential (django-otp-webauthn's swappable credential model) of one tenant.

    ``name`` (from django-otp's Device) is what the person called it."""

    objects: ClassVar[PasskeyManager] = PasskeyManager()
    unscoped: ClassVar[models.Manager] = models.Manager()

    class Meta(AbstractWebAuthnCredential.Meta):
        base_manager_name = "unscoped"
        verbose_name = "passkey"


class PasskeyAttestation(TenantOwned, AbstractWebAuthnAttestation):
    """The attestation a passkey was registered with (kept for later policy, as the library does)."""

    credential = models.OneToOneField(Passkey, on_delete=models.CASCADE, related_name="attestation",
                                      editable=False)

    class Meta(AbstractWebAuthnAttestation.Meta):
        base_manager_name = "unscoped"
