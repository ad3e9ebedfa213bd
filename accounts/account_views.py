"""A person's own security pages under {issuer}/account/: the password, factors to enrol and remove.

Managing factors needs a signed-in session, and a multi-factor one once the person has a
factor (a single-factor session is stepped up first, as django-otp-webauthn requires before
a new passkey). The TOTP and passkey pages also serve a sign-in the policy sends through
enrolment, before its session is authenticated.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import logout, update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts import events, factors
from accounts.authn import PendingSignIn, current_authentication, pending_sign_in
from accounts.forms import OTPForm
from accounts.models import Passkey, TOTPDevice
from accounts.passkeys import passkeys_usable_here
from accounts.profile import ProfileForm, update_profile
from accounts.services import change_password
from accounts.sessions import end_sessions, sessions_of
from accounts.signin import finish_enrolment, may_enrol, step_up, tenant_url
from accounts.views import INVALID_CODE, safe_next
from audit import queries
from audit import risk as audit_risk
from core.views import not_available
from tenants.context import require_tenant
from tenants.services import policy_for

TOTP_ENROLMENT_KEY = "_tessera_totp_enrolment"


def _manager(request: HttpRequest) -> tuple[Any, HttpResponse | None]:
    """(user, None) when this session may manage its factors, else (None, where to go)."""
    authn = current_authentication(request)
    here = request.get_full_path()
    if authn is None:
        return None, HttpResponseRedirect(tenant_url(request, "accounts:login", here))
    user: Any = request.user  # signed in: authn is set
    if authn.acr != "2" and factors.factors_of(user).usable(policy_for(require_tenant())):
        return None, step_up(request, user, authn.amr, here, reason="manage second factors")
    return user, None


def _subject(request: HttpRequest) -> tuple[Any, PendingSignIn | None, HttpResponse | None]:
    """Whose factor an enrolment page enrols: a sign-in that must enrol, or the manager."""
    pending = pending_sign_in(request)
    if pending is not None and may_enrol(request, pending):
        return pending.user, pending, None
    user, redirect = _manager(request)
    return user, None, redirect


@never_cache
def account_view(request: HttpRequest, tenant: str) -> HttpResponse:
    """The person's security overview: profile, sign-in methods, sessions, recent sign-ins
    (with their risk score and reasons) and the recent events of their account."""
    authn = current_authentication(request)
    if authn is None:
        return HttpResponseRedirect(tenant_url(request, "accounts:login", request.get_full_path()))
    policy = policy_for(require_tenant())
    user: Any = request.user
    sign_ins = queries.recent_sign_ins(user.username)
    for event in sign_ins:  # recorded in English, shown in the page's language
        event.reasons = [audit_risk.describe(reason) for reason in event.risk_reasons]  # type: ignore[attr-defined]
    return render(request, "accounts/account.html", {
        "factors": factors.factors_of(user), "policy": policy, "authn": authn,
        "sessions": sessions_of(user), "sign_ins": sign_ins, "events": queries.recent_events_about(user),
    })


@never_cache
@csrf_protect
@sensitive_post_parameters("password")
def profile_view(request: HttpRequest, tenant: str) -> HttpResponse:
    """Name and email. A new email needs the current password, and is verified again."""
    authn = current_authentication(request)
    if authn is None:
        return HttpResponseRedirect(tenant_url(request, "accounts:login", request.get_full_path()))
    user: Any = request.user
    form = ProfileForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            changed = update_profile(user, **{k: form.cleaned_data[k] for k in ("first_name", "last_name", "email")})
        except ValidationError as exc:
            form.add_error(None, exc)
        else:
            return render(request, "accounts/profile.html", {"form": ProfileForm(user), "saved": True,
                                                             "changed": changed})
    return render(request, "accounts/profile.html", {"form": form, "saved": False},
                  status=400 if form.errors else 200)


def _signed_in_user(request: HttpRequest) -> tuple[Any, Any]:
    authn = current_authentication(request)
    return (request.user, authn) if authn is not None else (None, None)


@require_POST
@csrf_protect
def session_revoke_view(request: HttpRequest, tenant: str, sid: str) -> HttpResponse:
    """End one of the person's sessions (this one too, if they choose it) and the tokens
    issued through it."""
    user, authn = _signed_in_user(request)
    if user is None:
        return HttpResponseRedirect(tenant_url(request, "accounts:login"))
    with transaction.atomic():
        ended = end_sessions(user, only_sid=sid, reason="revoked on the account page")
        if not ended:
            raise Http404
        events.session_revoked(user, sids=ended, current=sid == authn.sid)
    if sid == authn.sid:
        logout(request)
        return HttpResponseRedirect(tenant_url(request, "accounts:login"))
    return HttpResponseRedirect(reverse("accounts:account", kwargs={"tenant": tenant}))


@require_POST
@csrf_protect
def sign_out_everywhere_view(request: HttpRequest, tenant: str) -> HttpResponse:
    """Every session of the person, this one included, and every token they hold."""
    user, _authn = _signed_in_user(request)
    if user is None:
        return HttpResponseRedirect(tenant_url(request, "accounts:login"))
    with transaction.atomic():
        ended = end_sessions(user, reason="signed out everywhere", all_tokens=True)
        events.signed_out_everywhere(user, sessions=len(ended))
    logout(request)
    return render(request, "accounts/signed_out_everywhere.html", {"sessions": len(ended)})


@never_cache
@csrf_protect
@sensitive_post_parameters("old_password", "new_password1", "new_password2")
def password_view(request: HttpRequest, tenant: str) -> HttpResponse:
    """Change the password: the current one is asked for again; every token the user holds is
    revoked and the other sessions end (this one stays, with Django's new session hash)."""
    authn = current_authentication(request)
    if authn is None:
        return HttpResponseRedirect(tenant_url(request, "accounts:login", request.get_full_path()))
    user: Any = request.user
    form = PasswordChangeForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        change_password(user, form.cleaned_data["new_password1"], reason="changed", keep_sid=authn.sid)
        update_session_auth_hash(request, user)
        return render(request, "accounts/password.html", {"done": True})
    return render(request, "accounts/password.html", {"form": form, "done": False},
                  status=400 if form.errors else 200)


@never_cache
@csrf_protect
@sensitive_post_parameters("otp_token")
def totp_view(request: HttpRequest, tenant: str) -> HttpResponse:
    user, pending, redirect = _subject(request)
    if redirect is not None:
        return redirect
    if not policy_for(require_tenant()).allow_totp:
        return not_available(request, _("Authenticator apps are not enabled for this organisation."))
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    device = TOTPDevice.objects.filter(user=user, confirmed=False,
                                       uid=request.session.get(TOTP_ENROLMENT_KEY) or None).first()
    error = None
    form = OTPForm(request.POST or None)
    if request.method == "POST" and device is not None:
        if form.is_valid() and factors.confirm_totp(device, form.cleaned_data["otp_token"].replace(" ", "")):
            del request.session[TOTP_ENROLMENT_KEY]
            return _enrolled(request, user, pending, ["otp"], "totp", device, next_url)
        error = INVALID_CODE
    if device is None:
        device = factors.start_totp_enrolment(user)
        request.session[TOTP_ENROLMENT_KEY] = str(device.uid)
    uri = factors.totp_uri(device, issuer=require_tenant().name, account=user.get_username())
    return render(request, "accounts/totp.html", {
        "form": form, "error": error, "next": next_url, "qr": factors.qr_svg(uri),
        "secret": factors.totp_secret_text(device), "enrolling_sign_in": pending is not None,
    }, status=400 if error else 200)


def _enrolled(request: HttpRequest, user: Any, pending: PendingSignIn | None, methods: list[str], kind: str,
              device: Any, next_url: str) -> HttpResponse:
    """The first factor of an enrolling sign-in completes it; then recovery codes, once."""
    if pending is not None:
        finish_enrolment(request, pending, methods, kind=kind, device=device)
    else:
        next_url = reverse("accounts:account", kwargs={"tenant": require_tenant().slug})
    policy = policy_for(require_tenant())
    if policy.allow_recovery_codes and not factors.factors_of(user).recovery_left:
        return render(request, "accounts/recovery_codes.html", {
            "codes": factors.new_recovery_codes(user), "next": next_url, "fresh": True})
    return HttpResponseRedirect(next_url)


@require_POST
@csrf_protect
def totp_delete_view(request: HttpRequest, tenant: str, uid: str) -> HttpResponse:
    user, redirect = _manager(request)
    if redirect is not None:
        return redirect
    device = TOTPDevice.objects.filter(user=user, confirmed=True, uid=_uuid_or_none(uid)).first()
    if device is None:
        raise Http404
    factors.remove_totp(device)
    return HttpResponseRedirect(reverse("accounts:account", kwargs={"tenant": tenant}))


@never_cache
@csrf_protect
def recovery_codes_view(request: HttpRequest, tenant: str) -> HttpResponse:
    user, redirect = _manager(request)
    if redirect is not None:
        return redirect
    if not policy_for(require_tenant()).allow_recovery_codes:
        return not_available(request, _("Recovery codes are not enabled for this organisation."))
    account = reverse("accounts:account", kwargs={"tenant": tenant})
    if request.method == "POST":
        return render(request, "accounts/recovery_codes.html", {
            "codes": factors.new_recovery_codes(user), "next": account, "fresh": True})
    return render(request, "accounts/recovery_codes.html", {
        "left": factors.factors_of(user).recovery_left, "next": account, "fresh": False})


@never_cache
@csrf_protect
def passkeys_view(request: HttpRequest, tenant: str) -> HttpResponse:
    """The user's passkeys. Anyone signed in sees the list; adding and removing need what
    ``_manager`` asks (a multi-factor session once a factor exists): until then the page offers
    the step-up instead of the buttons."""
    pending = pending_sign_in(request)
    if pending is not None and may_enrol(request, pending):
        user: Any = pending.user
        step_up_first = False
    else:
        pending = None
        authn = current_authentication(request)
        if authn is None:
            return HttpResponseRedirect(tenant_url(request, "accounts:login", request.get_full_path()))
        user = request.user
        step_up_first = authn.acr != "2" and bool(factors.factors_of(user).usable(policy_for(require_tenant())))
    policy = policy_for(require_tenant())
    next_url = safe_next(request, request.GET.get("next")) if pending is not None else ""
    return render(request, "accounts/passkeys.html", {
        "passkeys": Passkey.objects.filter(user=user).order_by("created_at"), "allowed": policy.allow_passkeys,
        "usable_here": passkeys_usable_here(request), "step_up_first": step_up_first,
        "next": next_url, "enrolling_sign_in": pending is not None,
    })


@never_cache
def step_up_view(request: HttpRequest, tenant: str) -> HttpResponse:
    """Confirm with a second factor before changing factors (the MFA step, not the password)."""
    authn = current_authentication(request)
    next_url = safe_next(request, request.GET.get("next"))
    if authn is None:
        return HttpResponseRedirect(tenant_url(request, "accounts:login", next_url))
    if authn.acr == "2":
        return HttpResponseRedirect(next_url)
    return step_up(request, request.user, authn.amr, next_url, reason="manage second factors")


@require_POST
@csrf_protect
def passkey_delete_view(request: HttpRequest, tenant: str, pk: int) -> HttpResponse:
    user, redirect = _manager(request)
    if redirect is not None:
        return redirect
    passkey = Passkey.objects.filter(user=user, pk=pk).first()
    if passkey is None:
        raise Http404
    factors.remove_passkey(passkey)
    return HttpResponseRedirect(reverse("accounts:passkeys", kwargs={"tenant": tenant}))


def _uuid_or_none(text: str) -> str | None:
    import uuid

    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None
