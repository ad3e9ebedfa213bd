"""Forms of the login pages (field names are a stable contract: username, password)."""

from django import forms


class LoginForm(forms.Form):
    username = forms.CharField(
        max_length=254, label="Username or email",
        # "webauthn": the browser may offer passkeys in this field's autofill (conditional UI).
        widget=forms.TextInput(attrs={"autocomplete": "username webauthn", "autofocus": True}),
    )
    password = forms.CharField(
        max_length=4096, label="Password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )


class OTPForm(forms.Form):
    """The MFA step and TOTP enrolment: one field, a TOTP code or a recovery code."""

    otp_token = forms.CharField(
        max_length=64, label="Code", strip=True,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True,
                                      "spellcheck": "false", "autocapitalize": "off"}),
    )
