from django.db import migrations

from tenants.rls import TenantRLS


class Migration(migrations.Migration):

    dependencies = [
        ("idp", "0001_initial"),
        ("tenants", "0002_row_level_security"),
        ("oauth2_provider", "0022_refreshtoken_token_family_index"),
    ]

    operations = [
        TenantRLS("idp_application"),
        TenantRLS("idp_grant"),
        TenantRLS("idp_idtoken"),
        TenantRLS("idp_accesstoken"),
        TenantRLS("idp_refreshtoken"),
        TenantRLS("idp_signingkey"),
        TenantRLS("idp_consent"),
        # django-oauth-toolkit's device-grant table (the device flow is not offered; the
        # table exists anyway): a tenant_id of its own, so nothing in it can cross tenants.
        TenantRLS("oauth2_provider_devicegrant", add_column=True),
    ]
