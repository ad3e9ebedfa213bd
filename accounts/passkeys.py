"""Passkeys on django-otp-webauthn: its helper and ceremony views, bound to the tenant.

Taken from django-otp-webauthn: the py_webauthn calls (options, verification of attestation
and assertion: challenge, origin, relying-party id, signature, sign-count regression), the
credential and attestation models (abstract, made tenant-owned in accounts.models), its
session-held, single-use ceremony state and its JSON error responses. Replaced: the relying
party (id, name, allowed origin) comes from the tenant instead of global settings; the user
of a ceremony is the pending sign-in, not only a logged-in user, because the MFA step runs
before the session is authenticated; completion signs in through accounts.signin (amr,
policy, audit) instead of the library's login(); a passwordless assertion must carry user
verification and the user handle of the credential's owner; and its browser script (which
needs a JavaScript i18n catalogue, fixed element ids and alert()) by static/tessera/passkeys.js.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils.decorators import method_decorator
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django_otp_webauthn import exceptions
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import WebAuthnUserHandle
from django_otp_webauthn.utils import rewrite_exceptions
from django_otp_webauthn.views import (
    BeginCredentialAuthenticationView,
    BeginCredentialRegistrationView,
    CompleteCredentialAuthenticationView,
    CompleteCredentialRegistrationView,
)
from webauthn import base64url_to_bytes, verify_authentication_response
from webauthn.helpers import parse_attestation_object, parse_authentication_credential_json
from webauthn.helpers.structs import ResidentKeyRequirement, UserVerificationRequirement

from accounts import events, lockout
from accounts.authn import current_authentication, pending_sign_in
from accounts.factors import passkey_amr
from accounts.models import Passkey, PasskeyAttestation
from accounts.ratelimit import signin_refused
from accounts.signin import complete_sign_in, finish_enrolment, finish_pending, may_enrol
from core.conf import tessera_settings
from tenants.services import policy_for

log = logging.getLogger("tessera.passkeys")
NAME_MAX = 64


def _public_origin(request: HttpRequest) -> tuple[str, str]:
    """(scheme://host[:port], host) where people reach this deployment."""
    base = tessera_settings.PUBLIC_URL or request.build_absolute_uri("/")
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}", parts.hostname or ""


def relying_party_id(request: HttpRequest) -> str:
    """The tenant's WebAuthn relying-party id: its policy's, else the host of TESSERA_PUBLIC_URL."""
    policy = policy_for(request.tenant)  # type: ignore[attr-defined]
    return policy.passkey_rp_id or _public_origin(request)[1]


def passkeys_usable_here(request: HttpRequest) -> bool:
    """WebAuthn needs a domain as relying-party id: browsers refuse IP addresses (so
    `make run` on http://127.0.0.1 offers none; TESSERA_PUBLIC_URL=http://localhost:8000 does)."""
    import ipaddress

    try:
        ipaddress.ip_address(relying_party_id(request).strip("[]"))
    except ValueError:
        return True
    return False


def relying_party_name(request: HttpRequest) -> str:
    return request.tenant.name  # type: ignore[attr-defined]


class TenantWebAuthnHelper(WebAuthnHelper):
    """django-otp-webauthn's helper with the tenant as the relying party."""

    # Set by authenticate_complete: whether the authenticator verified the user (UV flag).
    user_verified: bool = False

    def get_relying_party_domain(self) -> str:
        return relying_party_id(self.request)

    def get_relying_party_name(self) -> str:
        return relying_party_name(self.request)

    def get_allowed_origins(self) -> list[str]:
        return [_public_origin(self.request)[0]]

    def get_discoverable_credentials_preference(self) -> ResidentKeyRequirement:
        # Discoverable credentials, so a registered passkey also works without a username.
        return ResidentKeyRequirement.REQUIRED

    def get_generate_registration_options_kwargs(self, *, user) -> dict:
        options = super().get_generate_registration_options_kwargs(user=user)
        options["authenticator_selection"].user_verification = UserVerificationRequirement.REQUIRED
        return options

    def get_registration_state(self, creation_options: dict) -> dict:
        state = super().get_registration_state(creation_options)
        name = str(self.request.data.get("passkey_name", "") if isinstance(self.request.data, dict) else "")
        state["name"] = "".join(ch for ch in name if ch.isprintable()).strip()[:NAME_MAX]
        return state

    def create_credential(self, user, response, parsed_credential, original_data: dict):
        device = super().create_credential(user, response, parsed_credential, original_data)
        device.tenant = user.tenant
        device.confirmed = True
        count = Passkey.objects.filter(user=user).count()
        device.name = getattr(self, "passkey_name", "") or f"Passkey {count + 1}"
        return device

    def create_attestation(self, credential, attestation_object: bytes, client_data_json: bytes):
        return PasskeyAttestation.objects.create(
            tenant=credential.tenant, credential=credential, fmt=parse_attestation_object(attestation_object).fmt,
            data=attestation_object, client_data_json=client_data_json)

    def authenticate_complete(self, user, state: dict, data: dict):
        """The library's, plus: the user handle (when sent) must be the owner's, and the UV flag
        is kept for amr. A credential of another tenant is not found (tenant-scoped manager)."""
        credential = parse_authentication_credential_json(data)
        try:
            device = Passkey.get_by_credential_id(credential.raw_id)
        except Passkey.DoesNotExist:
            raise exceptions.CredentialNotFound() from None
        if user is not None and device.user_id != user.pk:
            raise exceptions.CredentialUserMismatch() from None
        handle = credential.response.user_handle
        if handle and handle != WebAuthnUserHandle.get_handle_for_user(device.user):
            raise exceptions.CredentialUserMismatch() from None
        response = verify_authentication_response(
            credential=credential, credential_current_sign_count=device.sign_count,
            credential_public_key=device.public_key, expected_challenge=base64url_to_bytes(state["challenge"]),
            expected_rp_id=self.get_relying_party_domain(), expected_origin=self.get_allowed_origins(),
            require_user_verification=state["require_user_verification"],
        )
        self.user_verified = bool(response.user_verified)
        device.sign_count = response.new_sign_count
        device.backup_state = response.credential_backed_up
        device.set_last_used_timestamp(commit=False)
        device.save(update_fields=["sign_count", "last_used_at", "backup_state"])
        return device


class RegistrationNotAllowed(exceptions.OTPWebAuthnApiError):
    status_code = 403
    default_code = "passkeys_not_allowed"
    default_detail = _("Passkeys are not enabled for this organisation.")


class _Registration:
    """A registration is for the signed-in user, or for a sign-in that must enrol a factor."""

    request: Any

    def get_user(self):
        pending = pending_sign_in(self.request)
        if pending is not None:
            # Only a sign-in that must enrol may register before it is complete.
            if not may_enrol(self.request, pending):
                return None
            pending.user.is_verified = lambda: True
            return pending.user
        user = self.request.user if self.request.user.is_authenticated else None
        if user is not None:
            # django-otp-webauthn refuses a new passkey for an enrolled user whose session has
            # not passed a second factor (is_verified, normally set by django-otp's middleware).
            authn = current_authentication(self.request)
            verified = authn is not None and authn.acr == "2"
            user.is_verified = lambda: verified
        return user

    def check_can_register(self):
        if not policy_for(self.request.tenant).allow_passkeys:
            raise RegistrationNotAllowed()


@method_decorator(never_cache, name="dispatch")
class RegisterBegin(_Registration, BeginCredentialRegistrationView):
    pass


@method_decorator(never_cache, name="dispatch")
class RegisterComplete(_Registration, CompleteCredentialRegistrationView):
    def post(self, *args, **kwargs):
        user = self.get_user()
        state = self.get_state()
        helper = self.get_helper()
        helper.passkey_name = state.get("name", "")
        with _malformed_is_422(), rewrite_exceptions(logger=log):
            device = helper.register_complete(user=user, state=state, data=self.request.data)
        events.factor_enrolled(user, kind="passkey", name=device.name)
        pending = pending_sign_in(self.request)
        redirect_url = ""
        if pending is not None:
            # Registration required user verification; a factor enrolled during this sign-in
            # is used, but is no second factor bound before it (decision 41).
            finish_enrolment(self.request, pending, passkey_amr(device, user_verified=True), kind="passkey",
                             device=device)
            redirect_url = _next(self.request)
        return JsonResponse({"id": device.pk, "name": device.name, "redirect_url": redirect_url})


class _Authentication:
    request: Any

    def get_user(self):
        """The pending sign-in's user (second factor or step-up), else nobody (passwordless:
        the credential names its owner; a signed-in session signs in afresh)."""
        pending = pending_sign_in(self.request)
        return pending.user if pending is not None else None

    def check_can_authenticate(self):
        policy = policy_for(self.request.tenant)
        if not policy.allow_passkeys:
            raise RegistrationNotAllowed()
        if self.get_user() is None and not policy.allow_passwordless:
            raise exceptions.PasswordlessLoginDisabled()


@method_decorator(never_cache, name="dispatch")
class AuthenticateBegin(_Authentication, BeginCredentialAuthenticationView):
    def post(self, *args, **kwargs):
        response = super().post(*args, **kwargs)
        # Bind the ceremony to whom it was begun for (the library keys it to the session only).
        user = self.get_user()
        state = self.request.session["otp_webauthn_authentication_state"]
        state["for"] = str(user.uid) if user is not None else ""
        self.request.session["otp_webauthn_authentication_state"] = state
        return response


@method_decorator(never_cache, name="dispatch")
class AuthenticateComplete(_Authentication, CompleteCredentialAuthenticationView):
    def post(self, *args, **kwargs):
        pending = pending_sign_in(self.request)
        user = pending.user if pending is not None else None
        # A passkey assertion is a sign-in attempt like a password: it spends the same budgets
        # (the address's, and the account's when a sign-in is pending), before any work.
        refusal = signin_refused(self.request, user.get_username() if user is not None else "")
        if refusal is not None:
            # In the library's error shape ({"detail", "code"}), with Retry-After.
            response = JsonResponse({"detail": str(_("Too many sign-in attempts; try again shortly.")),
                                     "code": "rate_limited"}, status=429)
            response["Retry-After"] = str(refusal.retry_after)
            return response
        state = self.get_state()
        helper = self.get_helper()
        try:
            # The ceremony was begun for this pending sign-in (or for none): a state begun for
            # a second factor, which asks no user verification, cannot finish a passwordless one.
            if state.get("for", "") != (str(user.uid) if user is not None else ""):
                raise exceptions.InvalidState()
            with _malformed_is_422(), rewrite_exceptions(logger=log):
                device = helper.authenticate_complete(user=user, state=state, data=self.request.data)
            self.check_device_usable(device)
            if device.user.locked:  # the library refuses inactive users; a locked one is refused the same way
                raise exceptions.UserDisabled()
            if user is None and not (state["require_user_verification"] and helper.user_verified):
                raise exceptions.UnprocessableEntity(code="user_not_verified",
                                                     detail=_("Passwordless sign-in needs user verification."))
        except exceptions.OTPWebAuthnApiError as error:
            events.factor_failed(user, kind="passkey", reason=error.code)
            lockout.count_failure(self.request, user.get_username() if user is not None else "")
            raise
        methods = passkey_amr(device, user_verified=helper.user_verified)
        if pending is not None:
            finish_pending(self.request, pending, methods, kind="passkey", device=device)
        else:
            # Passwordless: possession of the key and the verified user (PIN or biometric)
            # are two factors (the ceremony required user verification).
            complete_sign_in(self.request, device.user, [*methods, "mfa"], kind="passkey",
                             purpose="passwordless", device=device)
        return JsonResponse({"id": device.pk, "redirect_url": _next(self.request)})


@contextlib.contextmanager
def _malformed_is_422():
    """What py_webauthn or the library let escape on malformed input (base64 or structure it
    does not check, a credential id registered twice) is the client's error, not a 500; the
    savepoint keeps the request's transaction usable for the audit event."""
    try:
        with transaction.atomic():
            yield
    except (ValueError, TypeError, KeyError, AttributeError, IntegrityError) as exc:
        log.info("passkey ceremony refused malformed input: %s", type(exc).__name__)
        raise exceptions.UnprocessableEntity(code="malformed_credential",
                                             detail=_("The passkey response could not be read.")) from None


def _next(request: HttpRequest) -> str:
    from accounts.views import safe_next

    return safe_next(request, request.GET.get("next"))

