"""The second factors under row-level security, with composite tenant keys.

django-otp-webauthn's own migrations create its stock tables even though its credential
models are swapped for ours: the user-handle table is used (WebAuthnUserHandle is not
swappable), the credential and attestation tables stay empty. All three get a tenant_id of
their own (defaulting to the transaction's tenant), so nothing in them can cross tenants.
"""

from django.db import migrations

from tenants.rls import TenantForeignKey, TenantKey, TenantRLS

STOCK = "django_otp_webauthn_"


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0005_second_factors"),
        ("django_otp_webauthn", "0004_webauthnuserhandle"),
    ]

    operations = [
        TenantRLS("accounts_totpdevice"),
        TenantRLS("accounts_recoverycodeset"),
        TenantRLS("accounts_recoverycode"),
        TenantRLS("accounts_passkey"),
        TenantRLS("accounts_passkeyattestation"),
        TenantKey("accounts_recoverycodeset"),
        TenantKey("accounts_passkey"),
        TenantForeignKey("accounts_totpdevice", "user_id", "accounts_user"),
        TenantForeignKey("accounts_recoverycodeset", "user_id", "accounts_user"),
        TenantForeignKey("accounts_recoverycode", "code_set_id", "accounts_recoverycodeset"),
        TenantForeignKey("accounts_passkey", "user_id", "accounts_user"),
        TenantForeignKey("accounts_passkeyattestation", "credential_id", "accounts_passkey"),
        TenantRLS(STOCK + "webauthnuserhandle", add_column=True),
        TenantForeignKey(STOCK + "webauthnuserhandle", "user_id", "accounts_user"),
        TenantRLS(STOCK + "webauthncredential", add_column=True),
        TenantRLS(STOCK + "webauthnattestation", add_column=True),
        TenantKey(STOCK + "webauthncredential"),
        TenantForeignKey(STOCK + "webauthncredential", "user_id", "accounts_user"),
        TenantForeignKey(STOCK + "webauthnattestation", "credential_id", STOCK + "webauthncredential"),
    ]
