"""Password reset by email, under {issuer}/password/reset/.

1. ``request_view``: an email address; whatever it is, the same page and status follow. For an
   active user of this tenant with that address, a link is emailed (accounts.mail, from a
   Celery task). At most ``_PER_ADDRESS`` emails per address and ``_PER_IP`` requests per IP
   address an hour: past that the page is the same and nothing is sent. Before any of that,
   the tenant's recovery rate limits (per IP and per address) answer 429 past them.
2. The link ``/password/reset/<uidb64>/<token>`` (accounts.tokens: single use, expiring,
   tenant-bound) is checked, moved into the session and replaced by
   ``/password/reset/<uidb64>/set-password`` before the page is shown, so the token is not in
   the page's address (nor in a Referer) while the person types (Django's own pattern).
3. ``set_password_view``: the new password, through the tenant's validators. Then every token
   of the user is revoked, every session of theirs ends (accounts.services.change_password),
   the brute-force counters of the username are cleared, and the person signs in again.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import SetPasswordForm
from django.db import transaction
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from accounts import events, lockout, mail, tokens
from accounts.ratelimit import recovery_refused, within_limit
from accounts.services import change_password
from audit import context as audit_context
from core.actors import user_actor
from core.ratelimit import page_refusal

RESET_SESSION_TOKEN = "_tessera_password_reset_token"  # noqa: S105 (a session key name)
SET_PASSWORD = "set-password"  # noqa: S105 (the URL segment that replaces the token)
_PER_ADDRESS = 3  # emails an hour
_PER_IP = 20  # requests an hour
_WINDOW = 3600


class ResetRequestForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True}))


def _active_user_with_email(email: str) -> Any:
    email = email.strip().lower()
    return (get_user_model().objects.annotate(email_lower=Lower("email"))
            .filter(email_lower=email, is_active=True).first())


@never_cache
@csrf_protect
def request_view(request: HttpRequest, tenant: str) -> HttpResponse:
    form = ResetRequestForm(request.POST or None)
    if request.method == "POST":
        refusal = recovery_refused(request, request.POST.get("email", ""))
        if refusal is not None:
            return page_refusal(request, refusal)
    if request.method == "POST" and form.is_valid():
        email = form.cleaned_data["email"]
        if within_limit("reset-ip", audit_context.current().ip, _PER_IP, _WINDOW) and \
                within_limit("reset-email", email.strip().lower(), _PER_ADDRESS, _WINDOW):
            user = _active_user_with_email(email)
            with transaction.atomic():
                events.password_reset_requested(user)
                if user is not None:
                    mail.send(user, "password_reset")
        return render(request, "accounts/password_reset_sent.html", {"email": email})
    return render(request, "accounts/password_reset.html", {"form": form}, status=400 if form.errors else 200)


def _invalid_link(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/password_reset_invalid.html", {}, status=400)


@never_cache
@sensitive_variables("token")
def confirm_view(request: HttpRequest, tenant: str, uidb64: str, token: str) -> HttpResponse:
    """The emailed link: checked, then the token moves into the session."""
    refusal = recovery_refused(request, f"link:{uidb64}")
    if refusal is not None:
        return page_refusal(request, refusal)
    user = tokens.user_from_link(uidb64)
    if user is None or not tokens.password_reset.check_token(user, token):
        return _invalid_link(request)
    request.session[RESET_SESSION_TOKEN] = token
    return HttpResponseRedirect(reverse("accounts:password-reset-confirm",
                                        kwargs={"tenant": tenant, "uidb64": uidb64, "token": SET_PASSWORD}))


@never_cache
@csrf_protect
@sensitive_post_parameters("new_password1", "new_password2")
def set_password_view(request: HttpRequest, tenant: str, uidb64: str) -> HttpResponse:
    if request.method == "POST":
        refusal = recovery_refused(request, f"link:{uidb64}")
        if refusal is not None:
            return page_refusal(request, refusal)
    user = tokens.user_from_link(uidb64)
    token = request.session.get(RESET_SESSION_TOKEN)
    if user is None or not tokens.password_reset.check_token(user, token):
        return _invalid_link(request)
    form = SetPasswordForm(user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            change_password(user, form.cleaned_data["new_password1"], reason="reset")
            lockout.unlock(username=user.username, actor=user_actor(user))
        request.session.pop(RESET_SESSION_TOKEN, None)
        return render(request, "accounts/password_reset_done.html", {})
    return render(request, "accounts/password_reset_set.html", {"form": form}, status=400 if form.errors else 200)


def confirm_or_set(request: HttpRequest, tenant: str, uidb64: str, token: str) -> HttpResponse:
    if token == SET_PASSWORD:
        return set_password_view(request, tenant, uidb64)
    return confirm_view(request, tenant, uidb64, token)
