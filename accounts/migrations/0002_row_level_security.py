from django.db import migrations

from tenants.rls import TenantRLS


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0001_initial"),
        ("tenants", "0002_row_level_security"),
    ]

    operations = [
        TenantRLS("accounts_user"),
        # Django's many-to-many tables of the user model: given a tenant_id of their own.
        TenantRLS("accounts_user_groups", add_column=True),
        TenantRLS("accounts_user_user_permissions", add_column=True),
    ]
