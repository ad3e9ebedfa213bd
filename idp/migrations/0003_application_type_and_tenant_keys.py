"""application_type (loopback on any port for native apps only), and composite tenant keys:
no token, code, consent or client of one tenant can reference a row of another."""

from django.db import migrations, models

from tenants.rls import TenantForeignKey, TenantKey


class Migration(migrations.Migration):

    dependencies = [
        ("idp", "0002_row_level_security"),
        ("accounts", "0003_tenant_keys"),
    ]

    operations = [
        migrations.AddField(
            model_name="application",
            name="application_type",
            field=models.CharField(choices=[("web", "Web (exact redirect URIs)"), ("native", "Native (loopback redirects on any port, RFC 8252 §7.3)")], default="web", help_text="native: a loopback redirect URI matches on any port (RFC 8252 §7.3); web: exact match only.", max_length=8),
        ),
        TenantKey("idp_application"),
        TenantKey("idp_accesstoken"),
        TenantKey("idp_refreshtoken"),
        TenantKey("idp_idtoken"),
        TenantForeignKey("idp_application", "user_id", "accounts_user"),
        TenantForeignKey("idp_grant", "user_id", "accounts_user"),
        TenantForeignKey("idp_grant", "application_id", "idp_application"),
        TenantForeignKey("idp_idtoken", "user_id", "accounts_user"),
        TenantForeignKey("idp_idtoken", "application_id", "idp_application"),
        TenantForeignKey("idp_accesstoken", "user_id", "accounts_user"),
        TenantForeignKey("idp_accesstoken", "application_id", "idp_application"),
        TenantForeignKey("idp_accesstoken", "id_token_id", "idp_idtoken"),
        TenantForeignKey("idp_accesstoken", "source_refresh_token_id", "idp_refreshtoken"),
        TenantForeignKey("idp_refreshtoken", "user_id", "accounts_user"),
        TenantForeignKey("idp_refreshtoken", "application_id", "idp_application"),
        TenantForeignKey("idp_refreshtoken", "access_token_id", "idp_accesstoken"),
        TenantForeignKey("idp_consent", "user_id", "accounts_user"),
        TenantForeignKey("idp_consent", "application_id", "idp_application"),
        TenantForeignKey("oauth2_provider_devicegrant", "user_id", "accounts_user"),
    ]
