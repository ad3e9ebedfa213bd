"""PostgreSQL row-level security: the tenant function, and the tables Tessera does not define.

django_session and django_admin_log hold tenant data, so they get a non-null tenant_id (defaulting to the transaction's tenant) and
the tenant policy like every other tenant table. No-op on SQLite.
"""

from django.db import migrations

from tenants.rls import CreateTenantFunction, TenantRLS


class Migration(migrations.Migration):

    dependencies = [
        ("tenants", "0001_initial"),
        ("sessions", "0001_initial"),
        ("admin", "0003_logentry_add_action_flag_choices"),
    ]

    operations = [
        CreateTenantFunction(),
        TenantRLS("django_session", add_column=True),
        TenantRLS("django_admin_log", add_column=True),
    ]
