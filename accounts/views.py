"""Login page, the MFA step, and the tenant's signed-in landing page."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING

from django.conf import settings
from django.contrib.auth import authenticate
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters

from accounts import events, lockout, risk
from accounts.authn import abandon_pending, pending_sign_in
from accounts.factors import factors_of, verify_otp_token
from accounts.forms import LoginForm, OTPForm
from accounts.passkeys import passkeys_usable_here
from accounts.ratelimit import signin_refused
from accounts.registration import must_verify, refuse_unverified
from accounts.signin import NoSecondCheck, after_password, finish_email_code, finish_pending, may_enrol
from audit.context import DEVICE_COOKIE
from core.ratelimit import page_refusal
from tenants.services import policy_for

if TYPE_CHECKING:
    from django_stubs_ext import StrOrPromise

# Lazy: translated into the language of the page that shows them (tenants.locale).
INVALID_CREDENTIALS = gettext_lazy("The username or password is not correct.")
INVALID_CODE = gettext_lazy(
    "That code is not valid. Codes work once; wait for the next one or use a recovery code.")


NO_SECOND_CHECK_TITLE = gettext_lazy("This sign-in needs another check")
NO_SECOND_CHECK = gettext_lazy(
    "This sign-in looks unusual, and your account has neither a second factor nor an email "
    "address to send a code to. Ask your administrator for help.")


def locked_message(retry_after: int) -> StrOrPromise:
    """What a refused attempt is told: the same whoever the identifier names, or nobody.

    Whole sentences per plural form, so each language can place the number where it goes.
    A str, typed as wide as the lazy constants above, which the views' ``error`` also holds."""
    if retry_after < 120:
        return ngettext(
            "Too many failed attempts. Try again in %(count)d second, or reset your password.",
            "Too many failed attempts. Try again in %(count)d seconds, or reset your password.",
            retry_after) % {"count": retry_after}
    minutes = -(-retry_after // 60)
    return ngettext(
        "Too many failed attempts. Try again in %(count)d minute, or reset your password.",
        "Too many failed attempts. Try again in %(count)d minutes, or reset your password.",
        minutes) % {"count": minutes}


def _refused(response: HttpResponse, decision: lockout.Decision | None) -> HttpResponse:
    if decision is not None and not decision.allowed:
        response["Retry-After"] = str(decision.retry_after)
    return response


def safe_next(request: HttpRequest, candidate: str | None) -> str:
    """``candidate`` if it is a same-origin path inside this tenant, else the tenant home."""
    tenant_root = f"/t/{request.tenant.slug}/"  # type: ignore[attr-defined]
    if (
        candidate
        and url_has_allowed_host_and_scheme(candidate, allowed_hosts={request.get_host()},
                                            require_https=request.is_secure())
        and (candidate.startswith(tenant_root) or candidate.startswith(tenant_root.rstrip("/") + "?"))
    ):
        return candidate
    return reverse("accounts:home", kwargs={"tenant": request.tenant.slug})  # type: ignore[attr-defined]


@never_cache
@csrf_protect
@sensitive_post_parameters("password")
def login_view(request: HttpRequest, tenant: str) -> HttpResponse:
    """Username/password step. The same message for unknown user and wrong password."""
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    error, decision = None, None
    if request.method == "POST":
        form = LoginForm(request.POST)
        valid = form.is_valid()
        # Rate limits before the lock and the hasher (issue 15); an invalid form spends its
        # address's budget only (its username is not looked up: it may hold anything).
        username = lockout.canonical_username(request, {"username": form.cleaned_data["username"]}) if valid else ""
        refusal = signin_refused(request, username)
        if refusal is not None:
            return page_refusal(request, refusal)
        if valid:
            # axes' backend asks accounts.lockout first: the attempt is counted before the
            # password is checked, or refused without checking it.
            user = authenticate(
                request, username=form.cleaned_data["username"], password=form.cleaned_data["password"]
            )
            if user is not None:
                lockout.passed(request)
                if must_verify(user, policy_for(request.tenant)):  # type: ignore[attr-defined]
                    return remember_device(request, refuse_unverified(request, user))
                try:
                    return remember_device(request, after_password(request, user, next_url))
                except NoSecondCheck:
                    return render(request, "error.html", {"title": NO_SECOND_CHECK_TITLE,
                                                          "message": NO_SECOND_CHECK}, status=403)
            decision = getattr(request, "tessera_lockout", None)
        error = locked_message(decision.retry_after) if decision and not decision.allowed else INVALID_CREDENTIALS
    else:
        form = LoginForm(initial={"username": request.GET.get("login_hint", "")[:254]})
    policy = policy_for(request.tenant)  # type: ignore[attr-defined]
    response = render(request, "accounts/login.html", {
        "form": form, "next": next_url, "error": error,
        "passkeys": policy.allow_passkeys and policy.allow_passwordless and passkeys_usable_here(request),
        "registration_open": policy.allow_self_registration,
    }, status=429 if decision is not None and not decision.allowed else 200)
    return remember_device(request, _refused(response, decision))


@never_cache
@csrf_protect
@sensitive_post_parameters("otp_token")
def mfa_view(request: HttpRequest, tenant: str) -> HttpResponse:
    """The MFA step: the pending sign-in's own factors, a code (TOTP or recovery) or a passkey."""
    next_url = safe_next(request, request.POST.get("next") or request.GET.get("next"))
    pending = pending_sign_in(request)
    if pending is None:
        return _start_over(request, next_url)
    if may_enrol(request, pending):
        return HttpResponseRedirect(_with_next(reverse("accounts:enrol", kwargs={"tenant": tenant}), next_url))
    policy = policy_for(request.tenant)  # type: ignore[attr-defined]
    usable = factors_of(pending.user).usable(policy)
    # A risky sign-in of a user with no factor answers with the code emailed to them.
    by_email = bool(pending.risk and pending.risk.get("email"))
    error, decision = None, None
    form = OTPForm(request.POST or None)
    if request.method == "POST":
        if "cancel" in request.POST:
            abandon_pending(request)
            return _start_over(request, next_url)
        refusal = signin_refused(request, pending.user.get_username())
        if refusal is not None:
            return page_refusal(request, refusal)
        # A code counts against the same username + IP (or browser) lock as the password.
        decision = lockout.reserve(request, pending.user.get_username(), slow_down=False)
        if not decision.allowed:
            events.factor_failed(pending.user, kind="otp", reason="locked out")
            error = locked_message(decision.retry_after)
        elif by_email:
            if form.is_valid() and risk.check_email_code(request, pending.user, form.cleaned_data["otp_token"]):
                lockout.passed(request)
                finish_email_code(request, pending)
                return HttpResponseRedirect(next_url)
            lockout.failed(request)
            events.factor_failed(pending.user, kind="email", reason="invalid or expired emailed code")
            error = INVALID_CODE
        else:
            answer = verify_otp_token(pending.user, request.POST.get("otp_token", ""), policy) \
                if form.is_valid() else None
            if answer is not None:
                lockout.passed(request)
                kind, device = answer
                finish_pending(request, pending, ["otp"], kind=kind, device=device)
                return HttpResponseRedirect(next_url)
            lockout.failed(request)
            events.factor_failed(pending.user, kind="otp", reason="invalid, replayed or throttled code")
            error = INVALID_CODE
    response = render(request, "accounts/mfa.html", {
        "form": form, "next": next_url, "error": error, "codes": by_email or bool(usable & {"totp", "recovery"}),
        "passkeys": not by_email and "passkey" in usable and passkeys_usable_here(request),
        "step_up": pending.purpose == "step_up", "email_code": by_email, "risky": bool(pending.risk),
    }, status=(429 if decision is not None and not decision.allowed else 400) if error else 200)
    return _refused(response, decision)


@never_cache
def enrol_view(request: HttpRequest, tenant: str) -> HttpResponse:
    """A sign-in the policy requires a second factor of, from a user who has none: choose one."""
    next_url = safe_next(request, request.GET.get("next"))
    pending = pending_sign_in(request)
    if pending is None:
        return _start_over(request, next_url)
    if not may_enrol(request, pending):  # a factor exists (now): the MFA step asks for it
        return HttpResponseRedirect(_with_next(reverse("accounts:mfa", kwargs={"tenant": tenant}), next_url))
    policy = policy_for(request.tenant)  # type: ignore[attr-defined]
    return render(request, "accounts/enrol.html", {
        "next": next_url, "totp": policy.allow_totp,
        "passkeys": policy.allow_passkeys and passkeys_usable_here(request),
    })


def _with_next(url: str, next_url: str) -> str:
    from urllib.parse import urlencode

    return f"{url}?{urlencode({'next': next_url})}"


def _start_over(request: HttpRequest, next_url: str) -> HttpResponse:
    """No (or an expired) pending sign-in: back to the password."""
    return HttpResponseRedirect(_with_next(reverse("accounts:login", kwargs={"tenant": request.tenant.slug}),  # type: ignore[attr-defined]
                                           next_url))


def remember_device(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """Give the browser a long-lived random device cookie (audit risk: "new device")."""
    if DEVICE_COOKIE not in request.COOKIES:
        response.set_cookie(
            DEVICE_COOKIE, secrets.token_urlsafe(32), max_age=365 * 24 * 3600,
            path=f"/t/{request.tenant.slug}/", secure=settings.SESSION_COOKIE_SECURE,  # type: ignore[attr-defined]
            httponly=True, samesite="Lax",
        )
    return response


@never_cache
def home_view(request: HttpRequest, tenant: str) -> HttpResponse:
    """Where a person lands after signing in without a relying party."""
    return render(request, "accounts/home.html", {})
