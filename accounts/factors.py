"""Second factors: TOTP, recovery codes and passkeys, and what the tenant's policy asks of a user.

Taken from django-otp: the device model (``Device``, confirmation), the RFC 6238 arithmetic
(``django_otp.oath.TOTP``) and its throttling (``ThrottlingMixin``: after n failures the next
check waits 2^(n-1) s). Replaced: the stock TOTPDevice keeps its seed in clear and saves the
whole row after a check, so two concurrent requests with one code both pass and a failure
can overwrite ``last_t``; here the seed is sealed under the KEK and the accepted time step is
claimed with one conditional UPDATE (``last_t < t``), so a code is accepted exactly once.
The stock StaticDevice keeps codes in clear; here only their keyed digests are kept and a
code is spent by one DELETE.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

import segno
from django.db import models, transaction
from django.db.models import F, Value
from django.utils import timezone
from django_otp.oath import TOTP

from accounts import events
from accounts.models import Passkey, RecoveryCode, RecoveryCodeSet, TOTPDevice
from core.crypto import data_key, seal, unseal
from tenants.models import MFAPolicy, SecurityPolicy

if TYPE_CHECKING:
    from accounts.models import User

TOTP_SEED_PURPOSE = b"tessera/totp-seed/v1"
RECOVERY_CODE_PURPOSE = b"tessera/recovery-code/v1"
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_RECOVERY_RE = re.compile(r"[a-z0-9]{10}")


# -- what a user has and what the policy asks ----------------------------------------------


@dataclass
class Factors:
    """A user's confirmed second factors."""

    totp: list[TOTPDevice] = field(default_factory=list)
    passkeys: list[Passkey] = field(default_factory=list)
    recovery_left: int = 0

    @property
    def kinds(self) -> set[str]:
        return {kind for kind, present in (
            ("totp", bool(self.totp)), ("passkey", bool(self.passkeys)), ("recovery", self.recovery_left > 0),
        ) if present}

    def usable(self, policy: SecurityPolicy) -> set[str]:
        """The kinds the user could answer an MFA step with under ``policy``."""
        return usable_kinds(self.kinds, policy)


def factor_kinds(user: User) -> set[str]:
    """The kinds of confirmed factor the user has ("totp", "passkey", "recovery"), in one query:
    what the sign-in asks, on every password step."""
    totp = TOTPDevice.objects.filter(user=user, confirmed=True).annotate(
        kind=Value("totp", output_field=models.CharField())).values_list("kind")
    passkeys = Passkey.objects.filter(user=user, confirmed=True).annotate(
        kind=Value("passkey", output_field=models.CharField())).values_list("kind")
    recovery = RecoveryCode.objects.filter(code_set__user=user, code_set__confirmed=True).annotate(
        kind=Value("recovery", output_field=models.CharField())).values_list("kind")
    return {k for (k,) in totp.union(passkeys, recovery)}


def usable_kinds(kinds: set[str], policy: SecurityPolicy) -> set[str]:
    return kinds & set(policy.allowed_factors)



def factors_of(user: User) -> Factors:
    sets = RecoveryCodeSet.objects.filter(user=user, confirmed=True)
    return Factors(
        totp=list(TOTPDevice.objects.filter(user=user, confirmed=True).order_by("created_at")),
        passkeys=list(Passkey.objects.filter(user=user, confirmed=True).order_by("created_at")),
        recovery_left=RecoveryCode.objects.filter(code_set__in=sets).count(),
    )


def is_tenant_admin(user: User) -> bool:
    """A user with an admin role (read-only or full) in their tenant."""
    return user.is_tenant_admin


def mfa_required(user: User, policy: SecurityPolicy) -> bool:
    """Whether the policy demands a second factor of this user (enrolling one if needed)."""
    if not policy.allowed_factors - {"recovery"}:
        return False  # nothing to enrol in
    return policy.mfa == MFAPolicy.REQUIRED or (policy.mfa == MFAPolicy.REQUIRED_FOR_ADMINS and is_tenant_admin(user))


def second_factor_needed(user: User, policy: SecurityPolicy, kinds: set[str]) -> bool:
    """After the password: does this sign-in go through the MFA step?"""
    if policy.mfa == MFAPolicy.OFF:
        return False
    return mfa_required(user, policy) or bool(usable_kinds(kinds, policy))


# -- TOTP ---------------------------------------------------------------------------------


def _totp_aad(device: TOTPDevice) -> bytes:
    return f"totp:{device.tenant_id}:{device.uid}".encode()


def start_totp_enrolment(user: User) -> TOTPDevice:
    """A new, unconfirmed device with a fresh 160-bit seed (RFC 4226 §4), replacing any
    earlier unconfirmed one."""
    TOTPDevice.objects.filter(user=user, confirmed=False).delete()
    device = TOTPDevice(user=user, name="Authenticator app", confirmed=False)
    device.tenant = user.tenant
    device.sealed_key = seal(secrets.token_bytes(20), purpose=TOTP_SEED_PURPOSE, associated_data=_totp_aad(device))
    device.save()
    return device


def totp_secret(device: TOTPDevice) -> bytes:
    return unseal(device.sealed_key, purpose=TOTP_SEED_PURPOSE, associated_data=_totp_aad(device))


def totp_secret_text(device: TOTPDevice) -> str:
    """The seed as the base32 text people type into an authenticator app."""
    return base64.b32encode(totp_secret(device)).decode().rstrip("=")


def totp_uri(device: TOTPDevice, *, issuer: str, account: str) -> str:
    """The otpauth:// URI of Google's Key Uri Format, which every authenticator app reads."""
    issuer = issuer.replace(":", "")
    params = urlencode({"secret": totp_secret_text(device), "issuer": issuer, "algorithm": "SHA1",
                        "digits": device.digits, "period": device.step}, quote_via=quote)
    return f"otpauth://totp/{quote(issuer)}:{quote(account)}?{params}"


def qr_svg(data: str) -> str:
    """``data`` as an inline SVG QR code (segno), rendered here: the seed never leaves for a
    third-party QR service."""
    return segno.make(data, error="m").svg_inline(scale=5, border=2, dark="#111", light="#fff")


def verify_totp(device: TOTPDevice, token: str) -> bool:
    """Check ``token`` against ``device``: throttled after failures, each time step once."""
    allowed, _why = device.verify_is_allowed()
    if not allowed:
        return False
    if not re.fullmatch(rf"[0-9]{{{device.digits}}}", token):
        _throttle(TOTPDevice, device)
        return False
    totp = TOTP(totp_secret(device), device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if not totp.verify(int(token), device.tolerance, device.last_t + 1):
        _throttle(TOTPDevice, device)
        return False
    step = totp.t()
    # Claim the step: of two requests presenting the same code, exactly one updates the row.
    claimed = TOTPDevice.objects.filter(pk=device.pk, last_t__lt=step).update(
        last_t=step, drift=totp.drift, throttling_failure_count=0, throttling_failure_timestamp=None,
        last_used_at=timezone.now(),
    )
    return claimed == 1


def confirm_totp(device: TOTPDevice, token: str) -> bool:
    """Enrolment: the device counts once one valid code was typed from it."""
    if device.confirmed or not verify_totp(device, token):
        return False
    TOTPDevice.objects.filter(pk=device.pk).update(confirmed=True)
    device.confirmed = True
    events.factor_enrolled(device.user, kind="totp", name=device.name)
    return True


def remove_totp(device: TOTPDevice) -> None:
    device.delete()
    events.factor_removed(device.user, kind="totp", name=device.name)


def _throttle(model: Any, device: Any) -> None:
    """Count a failure without saving the rest of the row (a concurrent success stays)."""
    model.objects.filter(pk=device.pk).update(
        throttling_failure_count=F("throttling_failure_count") + 1, throttling_failure_timestamp=timezone.now())


# -- recovery codes -----------------------------------------------------------------------


def _normalise_code(code: str) -> str:
    return re.sub(r"[\s-]", "", code).lower()


def _code_digest(user: User, code: str) -> str:
    message = f"{user.tenant_id}:{user.pk}:{_normalise_code(code)}".encode()
    return hmac.new(data_key(RECOVERY_CODE_PURPOSE), message, hashlib.sha256).hexdigest()


def new_recovery_codes(user: User) -> list[str]:
    """Ten fresh codes (50 bits each), returned once and kept only as keyed digests; the old
    set is void from now on."""
    codes = ["".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(10)) for _ in range(RECOVERY_CODE_COUNT)]
    with transaction.atomic():
        replaced = RecoveryCodeSet.objects.filter(user=user).delete()[0] > 0
        code_set = RecoveryCodeSet.objects.create(user=user, name="Recovery codes", confirmed=True)
        RecoveryCode.objects.bulk_create(
            [RecoveryCode(tenant_id=user.tenant_id, code_set=code_set, digest=_code_digest(user, c)) for c in codes])
        events.recovery_codes_generated(user, count=len(codes), replaced=replaced)
    return [f"{c[:5]}-{c[5:]}" for c in codes]


def looks_like_recovery_code(token: str) -> bool:
    return bool(_RECOVERY_RE.fullmatch(_normalise_code(token)))


def use_recovery_code(user: User, code: str) -> RecoveryCodeSet | None:
    """Spend ``code``: one DELETE, so a code is good exactly once, even concurrently."""
    code_set = RecoveryCodeSet.objects.filter(user=user, confirmed=True).first()
    if code_set is None:
        return None
    allowed, _why = code_set.verify_is_allowed()
    if not allowed:
        return None
    spent, _ = RecoveryCode.objects.filter(code_set=code_set, digest=_code_digest(user, code)).delete()
    if not spent:
        _throttle(RecoveryCodeSet, code_set)
        return None
    RecoveryCodeSet.objects.filter(pk=code_set.pk).update(
        throttling_failure_count=0, throttling_failure_timestamp=None, last_used_at=timezone.now())
    return code_set


# -- the MFA step's one field -------------------------------------------------------------


def verify_otp_token(user: User, token: str, policy: SecurityPolicy) -> tuple[str, Any] | None:
    """(kind, device) of the factor ``token`` answers (a TOTP code or a recovery code), or None."""
    token = (token or "").strip()[:64]
    allowed = policy.allowed_factors
    if "totp" in allowed and re.fullmatch(r"[0-9 ]{6,8}", token):
        digits = token.replace(" ", "")
        for device in TOTPDevice.objects.filter(user=user, confirmed=True).order_by("created_at"):
            if verify_totp(device, digits):
                return "totp", device
        return None
    if "recovery" in allowed and looks_like_recovery_code(token):
        code_set = use_recovery_code(user, token)
        if code_set is not None:
            return "recovery", code_set
    return None


def passkey_amr(passkey: Passkey, *, user_verified: bool) -> list[str]:
    """RFC 8176 methods of a passkey assertion: a synced passkey is a software key (swk), a
    device-bound one a hardware key (hwk); ``user`` when the authenticator verified the user."""
    methods = ["swk" if passkey.backup_eligible else "hwk"]
    if user_verified:
        methods.append("user")
    return methods


def remove_passkey(passkey: Passkey) -> None:
    passkey.delete()
    events.factor_removed(passkey.user, kind="passkey", name=passkey.name)
