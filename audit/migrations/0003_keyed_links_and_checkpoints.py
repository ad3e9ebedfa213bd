"""Keyed links (``mac``) and signed checkpoints; the application role may no longer purge.

Existing events get their keyed link computed here, tenant by tenant (under each tenant's
row-level security setting, with the append-only trigger held off for the duration: only
the owner, who runs migrations, can do that). From then on only a holder of the
key-encryption key can extend or rewrite a chain unnoticed.
"""

import django.db.models.deletion
import django.db.models.manager
from django.db import migrations, models

from tenants.rls import PostgreSQLOnly, TenantRLS


def key_existing_links(apps, schema_editor):
    from audit.chain import link_mac

    connection = schema_editor.connection
    with connection.cursor() as cursor:
        postgresql = connection.vendor == "postgresql"
        if postgresql:
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only")
        cursor.execute("SELECT id FROM tenants_tenant ORDER BY id")
        for (tenant_id,) in cursor.fetchall():
            if postgresql:
                cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant_id)])
            cursor.execute("SELECT id, seq, hash FROM audit_auditevent WHERE tenant_id = %s AND mac = ''",
                           [tenant_id])
            for pk, seq, hash_ in cursor.fetchall():
                cursor.execute("UPDATE audit_auditevent SET mac = %s WHERE id = %s",
                               [link_mac(tenant_id, seq, hash_), pk])
        if postgresql:
            cursor.execute("SELECT set_config('app.tenant_id', '', true)")
            cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER audit_append_only")


class Migration(migrations.Migration):

    dependencies = [
        ("audit", "0002_spool_id"),
        ("tenants", "0002_row_level_security"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="mac",
            field=models.CharField(default="", editable=False, help_text="HMAC-SHA256 of seq and hash under a key derived from the key-encryption key, which the database never holds: nobody who can only write the tables can recompute it.", max_length=64),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="hash",
            field=models.CharField(editable=False, help_text="sha256(prev_hash + content hash): the public link an export is checked by.", max_length=64),
        ),
        migrations.CreateModel(
            name="Checkpoint",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("seq", models.BigIntegerField(editable=False)),
                ("hash", models.CharField(editable=False, max_length=64)),
                ("jws", models.TextField(editable=False)),
                ("created", models.DateTimeField(editable=False)),
                ("tenant", models.ForeignKey(editable=False, on_delete=django.db.models.deletion.CASCADE, related_name="+", to="tenants.tenant")),
            ],
            options={
                "ordering": ["tenant", "seq"],
                "base_manager_name": "unscoped",
                "constraints": [models.UniqueConstraint(fields=("tenant", "seq"), name="audit_checkpoint_seq_unique")],
            },
            managers=[
                ("objects", django.db.models.manager.Manager()),
                ("unscoped", django.db.models.manager.Manager()),
            ],
        ),
        TenantRLS("audit_checkpoint"),
        migrations.RunPython(key_existing_links, migrations.RunPython.noop),
        # Functions are executable by PUBLIC by default: only the owner (or a role it grants
        # EXECUTE) may purge.
        PostgreSQLOnly("REVOKE EXECUTE ON FUNCTION audit_purge_through(bigint) FROM PUBLIC",
                       "GRANT EXECUTE ON FUNCTION audit_purge_through(bigint) TO PUBLIC"),
    ]
