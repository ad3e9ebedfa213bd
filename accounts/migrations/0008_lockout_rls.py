"""The brute-force counters under row-level security.

accounts_loginthrottle is ours (tenant_id from TenantOwned). django-axes' own tables are
created by its migrations although Tessera's handler never writes them (accounts.lockout
counts in accounts_loginthrottle): they get a tenant_id of their own all the same, so that
nothing that ever writes them can cross tenants.
"""

from django.db import migrations

from tenants.rls import TenantForeignKey, TenantKey, TenantRLS


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0007_lockout"),
        ("axes", "0010_accessattemptexpiration"),
    ]

    operations = [
        TenantRLS("accounts_loginthrottle"),
        TenantRLS("axes_accessattempt", add_column=True),
        TenantRLS("axes_accesslog", add_column=True),
        TenantRLS("axes_accessfailurelog", add_column=True),
        TenantRLS("axes_accessattemptexpiration", add_column=True),
        TenantKey("axes_accessattempt"),
        TenantForeignKey("axes_accessattemptexpiration", "access_attempt_id", "axes_accessattempt"),
    ]
