"""The person's own profile on the account page: name and email.

A new email address needs the current password (whoever borrows an open session must not
redirect the password-reset emails), must be free in the tenant, and is unverified until the
link sent to it is opened (``email_verified`` in the ID token and userinfo says so meanwhile).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from accounts import events
from accounts.registration import email_changed


class ProfileForm(forms.Form):
    first_name = forms.CharField(label=_("First name"), max_length=150, required=False,
                                 widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    last_name = forms.CharField(label=_("Last name"), max_length=150, required=False,
                                widget=forms.TextInput(attrs={"autocomplete": "family-name"}))
    email = forms.EmailField(label=_("Email address"), max_length=254, required=False,
                             widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    password = forms.CharField(label=_("Current password (to change the email address)"), required=False,
                               strip=False, max_length=4096,
                               widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}))

    def __init__(self, user: Any, data: Any = None) -> None:
        self.user = user
        super().__init__(data, initial={"first_name": user.first_name, "last_name": user.last_name,
                                        "email": user.email})

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        email = (data.get("email") or "").strip()
        if "email" in data and email.lower() != self.user.email.lower():
            if not self.user.check_password(data.get("password") or ""):
                self.add_error("password", _("Type your current password to change the email address."))
            elif email and get_user_model().objects.annotate(e=Lower("email")).filter(e=email.lower()) \
                    .exclude(pk=self.user.pk).exists():
                self.add_error("email", _("Another account uses that email address."))
        return data


def update_profile(user: Any, *, first_name: str, last_name: str, email: str) -> list[str]:
    """Save the changed fields (an audit event); a new email is sent its verification link."""
    email = email.strip()
    changed = [name for name, value in (("first_name", first_name), ("last_name", last_name), ("email", email))
               if getattr(user, name) != value]
    if not changed:
        return []
    with transaction.atomic():
        user.first_name, user.last_name = first_name, last_name
        if "email" in changed:
            user.email = email
            if email:
                email_changed(user)
            else:
                user.email_verified = False
        try:
            with transaction.atomic():
                user.save(update_fields=[*changed, "email_verified", "updated"])
        except IntegrityError as exc:  # a concurrent change took the address meanwhile
            raise ValidationError({"email": _("Another account uses that email address.")}) from exc
        events.profile_changed(user, fields=changed)
    return changed
