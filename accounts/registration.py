"""Self-registration and email verification (per tenant, off by default).

- ``register_view`` ({issuer}/register) exists only where the tenant's policy allows it. The
  account is created unverified and cannot sign in until its email is verified; the same
  "check your email" page follows whether the address was new or already had an account
  (whose owner is told by email instead), so the page does not reveal who is registered.
- ``verify_view``: the emailed link (accounts.tokens: single use, expiring, for that address
  only, tenant-bound) sets ``email_verified``, which the ID token and userinfo then report.
- ``must_verify``: whether a user may sign in yet. A self-registered user must have verified;
  with the policy's ``require_verified_email`` every user must.
- ``resend_view``: a sign-in that was refused for an unverified email may ask for the link
  again (the session remembers whose, after the right password only).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_protect
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts import events, mail, tokens
from accounts.ratelimit import recovery_refused, within_limit
from audit import context as audit_context
from core.ratelimit import page_refusal
from core.views import not_available
from tenants.context import require_tenant
from tenants.services import policy_for

UNVERIFIED_SESSION_KEY = "_tessera_unverified"
_REGISTRATIONS_PER_IP = 10  # an hour
_RESENDS = 3  # per user an hour


def must_verify(user: Any, policy: Any) -> bool:
    """Whether ``user`` may not sign in until their email address is verified."""
    return not user.email_verified and (user.self_registered or policy.require_verified_email)


class RegistrationForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=150,
                               widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}))
    email = forms.EmailField(label=_("Email address"), max_length=254,
                             widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False,
                                 widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False,
                                widget=forms.TextInput(attrs={"autocomplete": "family-name"}))
    password1 = forms.CharField(label=_("Password"), strip=False, max_length=4096,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                                help_text=password_validation.password_validators_help_text_html)
    password2 = forms.CharField(label=_("Password again"), strip=False, max_length=4096,
                                widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        user_model = get_user_model()
        user_model.username_validator(username)
        if user_model.objects.annotate(u=Lower("username")).filter(u=username.lower()).exists():
            raise ValidationError(_("That username is taken. Choose another."))
        return username

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        first, second = data.get("password1"), data.get("password2")
        if first and second and first != second:
            self.add_error("password2", _("The two passwords differ."))
        elif first and data.get("username"):
            candidate = get_user_model()(username=data["username"], email=data.get("email", ""),
                                         first_name=data.get("first_name", ""), last_name=data.get("last_name", ""))
            try:
                password_validation.validate_password(first, candidate)
            except ValidationError as exc:
                self.add_error("password1", exc)
        return data


@never_cache
@csrf_protect
@sensitive_post_parameters("password1", "password2")
def register_view(request: HttpRequest, tenant: str) -> HttpResponse:
    if not policy_for(require_tenant()).allow_self_registration:
        return not_available(request, _("This organisation does not let people create their own accounts."))
    if request.method == "POST":
        refusal = recovery_refused(request, request.POST.get("email", ""))
        if refusal is not None:
            return page_refusal(request, refusal)
    form = RegistrationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        if within_limit("register-ip", audit_context.current().ip, _REGISTRATIONS_PER_IP, 3600):
            _register(data)
        return render(request, "accounts/register_sent.html", {"email": data["email"]})
    return render(request, "accounts/register.html", {"form": form}, status=400 if form.errors else 200)


def _register(data: dict[str, Any]) -> None:
    user_model = get_user_model()
    owner = user_model.objects.annotate(e=Lower("email")).filter(e=data["email"].strip().lower()).first()
    if owner is not None:  # the address has an account: its owner hears of the attempt
        with transaction.atomic():
            mail.send(owner, "already_registered")
        return
    user = user_model(username=data["username"], email=data["email"].strip(), first_name=data["first_name"],
                      last_name=data["last_name"], email_verified=False, self_registered=True)
    user.set_password(data["password1"])
    try:
        with transaction.atomic():
            user.save()
            events.registered(user)
            mail.send(user, "verify_email")
    except IntegrityError:
        return  # registered a moment ago by a concurrent request: the same page either way


@never_cache
def verify_view(request: HttpRequest, tenant: str, uidb64: str, token: str) -> HttpResponse:
    user = tokens.user_from_link(uidb64)
    if user is None or not tokens.email_verification.check_token(user, token):
        return render(request, "accounts/verify_email_invalid.html", {}, status=400)
    with transaction.atomic():
        type(user).objects.filter(pk=user.pk).update(email_verified=True)
        user.email_verified = True
        events.email_verified(user)
    request.session.pop(UNVERIFIED_SESSION_KEY, None)
    return render(request, "accounts/verify_email_done.html", {"verified_user": user})


def refuse_unverified(request: HttpRequest, user: Any) -> HttpResponse:
    """The password was right but the email is not verified yet: say so, offer the link again."""
    request.session[UNVERIFIED_SESSION_KEY] = str(user.uid)
    return render(request, "accounts/verify_email_needed.html", {"sent": False}, status=403)


@require_POST
@csrf_protect
def resend_view(request: HttpRequest, tenant: str) -> HttpResponse:
    uid = request.session.get(UNVERIFIED_SESSION_KEY)
    user = get_user_model().objects.filter(uid=uid, is_active=True).first() if uid else None
    if user is not None and not user.email_verified and within_limit("verify-resend", str(user.uid), _RESENDS, 3600):
        with transaction.atomic():
            mail.send(user, "verify_email")
    return render(request, "accounts/verify_email_needed.html", {"sent": user is not None}, status=200)


def email_changed(user: Any) -> None:
    """The user's address changed (the account page): unverified until its new link is opened."""
    user.email_verified = False
    mail.send(user, "verify_email")
