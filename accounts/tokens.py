"""Links sent by email: password reset and email verification.

Django's PasswordResetTokenGenerator, with a salt per purpose, the tenant and the user's uid
in the hash, and a timeout per purpose:
- a reset link works once (the new password changes the hash) and for ``RESET_TIMEOUT``;
- a verification link works once (``email_verified`` is in the hash) for the address it was
  sent to (the email is in Django's hash), for ``VERIFY_TIMEOUT``;
- both are bound to their tenant: the uid is looked up in the tenant of the URL only, and the
  tenant id is hashed, so a link never works at another tenant.
Nothing is stored: the link is its own proof.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core.exceptions import ValidationError
from django.utils.encoding import force_str
from django.utils.http import base36_to_int, urlsafe_base64_decode


def user_from_link(uidb64: str) -> Any:
    """The active user of the current tenant a link's ``uidb64`` names, or None for anything
    else: a uid of another tenant, garbage, or base64 of something that is no UUID."""
    try:
        uid = force_str(urlsafe_base64_decode(uidb64))
        return get_user_model().objects.filter(uid=uid, is_active=True).first()
    except (TypeError, ValueError, OverflowError, UnicodeDecodeError, ValidationError):
        return None


class _PurposeTokens(PasswordResetTokenGenerator):
    def __init__(self, purpose: str, timeout: int) -> None:
        super().__init__()
        self.key_salt = f"tessera.accounts.tokens.{purpose}"
        self.timeout = timeout

    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        return f"{user.tenant_id}:{user.uid}:{super()._make_hash_value(user, timestamp)}"

    def check_token(self, user: Any, token: str | None) -> bool:
        if not token or not super().check_token(user, token):
            return False
        try:  # Django checks PASSWORD_RESET_TIMEOUT (the longest); this purpose's is shorter
            issued = base36_to_int(token.split("-", 1)[0])
        except ValueError:
            return False
        return self._num_seconds(self._now()) - issued <= self.timeout


class _VerificationTokens(_PurposeTokens):
    def _make_hash_value(self, user: Any, timestamp: int) -> str:
        return f"{super()._make_hash_value(user, timestamp)}:{int(user.email_verified)}"


password_reset = _PurposeTokens("password-reset", settings.TESSERA_PASSWORD_RESET_TIMEOUT)
email_verification = _VerificationTokens("email-verification", settings.TESSERA_EMAIL_VERIFICATION_TIMEOUT)
