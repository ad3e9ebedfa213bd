"""Tenant-scoped account pages, mounted under /t/<tenant>/ (the page contract: docs and design.md)."""

from django.urls import path

from accounts import account_views, passkeys, password_reset, registration, views

app_name = "accounts"
urlpatterns = [
    path("login", views.login_view, name="login"),
    path("login/mfa", views.mfa_view, name="mfa"),
    path("login/enrol", views.enrol_view, name="enrol"),
    path("password/reset/", password_reset.request_view, name="password-reset"),
    # The emailed link, then (the token moved into the session) "set-password" in its place.
    path("password/reset/<str:uidb64>/<str:token>", password_reset.confirm_or_set, name="password-reset-confirm"),
    path("register", registration.register_view, name="register"),
    path("verify-email", registration.resend_view, name="verify-email-resend"),
    path("verify-email/<str:uidb64>/<str:token>", registration.verify_view, name="verify-email"),
    path("account/", account_views.account_view, name="account"),
    path("account/profile", account_views.profile_view, name="profile"),
    path("account/sessions/<str:sid>/revoke", account_views.session_revoke_view, name="session-revoke"),
    path("account/sign-out-everywhere", account_views.sign_out_everywhere_view, name="sign-out-everywhere"),
    path("account/step-up", account_views.step_up_view, name="step-up"),
    path("account/password", account_views.password_view, name="password"),
    path("account/totp", account_views.totp_view, name="totp"),
    path("account/totp/<str:uid>/delete", account_views.totp_delete_view, name="totp-delete"),
    path("account/recovery-codes", account_views.recovery_codes_view, name="recovery-codes"),
    path("account/passkeys", account_views.passkeys_view, name="passkeys"),
    path("account/passkeys/<int:pk>/delete", account_views.passkey_delete_view, name="passkey-delete"),
    # The WebAuthn ceremonies (JSON, called by static/tessera/passkeys.js).
    path("passkeys/register/begin", passkeys.RegisterBegin.as_view(), name="passkey-register-begin"),
    path("passkeys/register/complete", passkeys.RegisterComplete.as_view(), name="passkey-register-complete"),
    path("passkeys/authenticate/begin", passkeys.AuthenticateBegin.as_view(), name="passkey-auth-begin"),
    path("passkeys/authenticate/complete", passkeys.AuthenticateComplete.as_view(), name="passkey-auth-complete"),
    path("", views.home_view, name="home"),
]
