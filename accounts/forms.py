"""Forms of the login pages (field names are a stable contract: username, password, otp_token).

The forms validate; the templates write the inputs themselves (templates/accounts/login.html,
mfa.html, totp.html), next to the one message a refused attempt shows, so that message is
the field's description (aria-describedby) and the field says it is invalid (aria-invalid).
The views' refusals are not form errors (the same message for every identifier), so Django's
own error wiring would never mark them. Labels are translated when the page renders.
"""

from django import forms
from django.utils.translation import gettext_lazy as _


class LoginForm(forms.Form):
    username = forms.CharField(max_length=254, label=_("Username or email"))
    password = forms.CharField(max_length=4096, label=_("Password"), strip=False, widget=forms.PasswordInput)


class OTPForm(forms.Form):
    """The MFA step and TOTP enrolment: one field, a TOTP code or a recovery code."""

    otp_token = forms.CharField(max_length=64, label=_("Code"), strip=True)
