"""Composite tenant keys: a row of one tenant can never reference a user of another."""

from django.db import migrations

from tenants.rls import TenantForeignKey, TenantKey


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0002_row_level_security"),
        ("tenants", "0002_row_level_security"),
    ]

    operations = [
        TenantKey("accounts_user"),
        TenantForeignKey("accounts_user_groups", "user_id", "accounts_user"),
        TenantForeignKey("accounts_user_user_permissions", "user_id", "accounts_user"),
        TenantForeignKey("django_admin_log", "user_id", "accounts_user"),
    ]
