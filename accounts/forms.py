"""Forms of the login pages (field names are a stable contract: username, password)."""

from django import forms


class LoginForm(forms.Form):
    username = forms.CharField(
        max_length=254, label="Username or email",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password = forms.CharField(
        max_length=4096, label="Password", strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
