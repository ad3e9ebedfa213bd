"""Admin roles (tenant admins of the admin API and Django admin) and the admin lock."""

from django.db import migrations, models


def staff_become_full_admins(apps, schema_editor):
    """Until this migration a tenant admin was a staff user (accounts.factors.is_tenant_admin):
    they keep being one, as full admins. Under forced RLS, one tenant at a time."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.execute("UPDATE accounts_user SET admin_role = 'full' WHERE is_staff OR is_superuser")
            return
        cursor.execute("SELECT id FROM tenants_tenant")
        for (tenant_id,) in cursor.fetchall():
            cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant_id)])
            cursor.execute("UPDATE accounts_user SET admin_role = 'full' WHERE is_staff OR is_superuser")
        cursor.execute("SELECT set_config('app.tenant_id', '', true)")


class Migration(migrations.Migration):

    dependencies = [
        ("accounts", "0010_self_registered"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="admin_role",
            field=models.CharField(blank=True, choices=[("", "None"), ("read_only", "Read-only admin"), ("full", "Full admin")], default="", max_length=16),
        ),
        migrations.AddField(
            model_name="user",
            name="locked",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(staff_become_full_admins, migrations.RunPython.noop),
    ]
