"""The steps of a sign-in after the first factor: the MFA step, enrolment, and completion.

The session is authenticated only in ``complete_sign_in``; until then a pending sign-in
(``accounts.authn.PendingSignIn``) is all the session holds.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import django_otp
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse

from accounts import events, risk
from accounts.authn import Authentication, PendingSignIn, await_second_factor, sign_in
from accounts.factors import factor_kinds, mfa_required, second_factor_needed, usable_kinds
from tenants.services import policy_for


def complete_sign_in(request: HttpRequest, user: Any, amr: list[str], *, kind: str | None = None,
                     purpose: str = "sign_in", device: Any = None,
                     fresh: list[str] | None = None) -> Authentication:
    """Authenticate the session as ``user`` with ``amr``, under the tenant policy's timeouts."""
    policy = policy_for(request.tenant)  # type: ignore[attr-defined]
    if kind is not None:
        events.factor_verified(user, kind=kind, purpose=purpose)
    authn = sign_in(request, user, amr, idle_timeout=policy.session_idle_timeout,
                    absolute_timeout=policy.session_absolute_timeout, fresh_methods=tuple(fresh or amr))
    if device is not None:
        django_otp.login(request, device)  # django-otp's record of the verifying device
    return authn


def finish_pending(request: HttpRequest, pending: PendingSignIn, methods: list[str], *, kind: str,
                   device: Any = None) -> Authentication:
    """The second factor passed: the pending sign-in becomes the session's, multi-factor."""
    authn = complete_sign_in(request, pending.user, [*pending.amr, *methods, "mfa"], kind=kind,
                             purpose=pending.purpose, device=device,
                             fresh=[*methods, "mfa"] if pending.purpose == "step_up" else None)
    if pending.risk:
        risk.notify_new_sign_in(pending.user)
    return authn


def finish_email_code(request: HttpRequest, pending: PendingSignIn) -> Authentication:
    """A risky sign-in of a user with no factor passed the emailed code. The code proves the
    person reads the account's mailbox, a check on this sign-in, not a factor of the account:
    amr gains "otp" but not "mfa", and acr stays "1" (decision 48)."""
    authn = complete_sign_in(request, pending.user, [*pending.amr, "otp"], kind="email", purpose="risk")
    risk.notify_new_sign_in(pending.user)
    return authn


def finish_enrolment(request: HttpRequest, pending: PendingSignIn, methods: list[str], *, kind: str,
                     device: Any = None) -> Authentication:
    """A sign-in that had to enrol a factor completes with it. The factor was used (its code
    typed, the passkey created) but was not bound to the account before this sign-in, so it
    proves no more than the password did: no "mfa", acr stays "1" (decision 41). A relying
    party asking acr_values=2 then steps the session up with the new factor."""
    return complete_sign_in(request, pending.user, [*pending.amr, *methods], kind=kind,
                            purpose="enrolment", device=device,
                            fresh=list(methods) if pending.purpose == "step_up" else None)


def may_enrol(request: HttpRequest, pending: PendingSignIn) -> bool:
    """Whether this pending sign-in may enrol a factor now: it was sent to enrolment, and the
    user (still) has no factor that could answer the MFA step instead."""
    if not pending.enrol:
        return False
    return not usable_kinds(factor_kinds(pending.user), policy_for(request.tenant))  # type: ignore[attr-defined]


def tenant_url(request: HttpRequest, name: str, next_url: str | None = None) -> str:
    url = reverse(name, kwargs={"tenant": request.tenant.slug})  # type: ignore[attr-defined]
    return f"{url}?{urlencode({'next': next_url})}" if next_url else url


def after_password(request: HttpRequest, user: Any, next_url: str) -> HttpResponse:
    """The password was right: sign in, or go to the MFA step, or enrol a required factor."""
    policy = policy_for(request.tenant)  # type: ignore[attr-defined]
    kinds = factor_kinds(user)
    if not second_factor_needed(user, policy, kinds):
        score, reasons = risk.assess(user)
        if not risk.step_up_needed(user, score, policy):
            complete_sign_in(request, user, ["pwd"])
            return HttpResponseRedirect(next_url)
        return _risk_step_up(request, user, policy, kinds, score, reasons, next_url)
    # Enrol first only when a factor is required and the user has none that could answer the
    # MFA step (recovery codes included: whoever holds them must use one before enrolling).
    enrol = mfa_required(user, policy) and not usable_kinds(kinds, policy)
    await_second_factor(request, user, ["pwd"], enrol=enrol, purpose="sign_in")
    return HttpResponseRedirect(tenant_url(request, "accounts:enrol" if enrol else "accounts:mfa", next_url))


def _risk_step_up(request: HttpRequest, user: Any, policy: Any, kinds: Any, score: int, reasons: list[str],
                  next_url: str) -> HttpResponse:
    """The password was right but the sign-in scores above the tenant's threshold: the MFA
    step with the user's own factor, else with a code sent to their email address."""
    by_email = not usable_kinds(kinds, policy)
    if by_email and not user.email:
        events.risk_step_up(user, score=score, threshold=policy.risk_step_up_threshold, reasons=reasons,
                            by_email=False)
        raise NoSecondCheck
    state = risk.record_step_up(user, score=score, reasons=reasons, policy=policy, by_email=by_email)
    await_second_factor(request, user, ["pwd"], enrol=False, purpose="sign_in", risk=state)
    if by_email:
        risk.send_email_code(request, user)
    return HttpResponseRedirect(tenant_url(request, "accounts:mfa", next_url))


class NoSecondCheck(Exception):
    """A risky sign-in of a user with neither a factor nor an email address: refused."""


def step_up(request: HttpRequest, user: Any, amr: tuple[str, ...], next_url: str, *, reason: str) -> HttpResponse:
    """A signed-in, single-factor session must add a second factor (not the password again)."""
    policy = policy_for(request.tenant)  # type: ignore[attr-defined]
    enrol = not usable_kinds(factor_kinds(user), policy)
    events.step_up_requested(user, reason=reason)
    await_second_factor(request, user, list(amr), enrol=enrol, purpose="step_up")
    return HttpResponseRedirect(tenant_url(request, "accounts:enrol" if enrol else "accounts:mfa", next_url))
