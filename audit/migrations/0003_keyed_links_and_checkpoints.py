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
    """Give every existing event its keyed link, tenant by tenant, once its public chain has
    been checked: keying a chain that was already tampered with would vouch for the tampering."""
    from audit.chain import content_hash, fields_of, link_hash, link_mac
    from audit.models import GENESIS_HASH, AuditEvent

    connection = schema_editor.connection
    alias = connection.alias
    postgresql = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM tenants_tenant ORDER BY id")
        tenant_ids = [row[0] for row in cursor.fetchall()]
        if postgresql:
            cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER audit_append_only")
        for tenant_id in tenant_ids:
            if postgresql:
                cursor.execute("SELECT set_config('app.tenant_id', %s, true)", [str(tenant_id)])
            expected = None
            for event in AuditEvent.unscoped.using(alias).filter(tenant_id=tenant_id).order_by("seq"):
                if expected is None:
                    expected = GENESIS_HASH if event.seq == 1 else event.prev_hash  # after a purge
                if event.prev_hash != expected or link_hash(event.prev_hash, content_hash(fields_of(event))) != event.hash:
                    raise RuntimeError(
                        f"The audit chain of tenant {tenant_id} is broken at event #{event.seq}: it will not be "
                        "keyed. Run `manage.py verify_audit --all` with the previous release and investigate.")
                expected = event.hash
                if not event.mac:
                    cursor.execute("UPDATE audit_auditevent SET mac = %s WHERE id = %s",
                                   [link_mac(tenant_id, event.seq, event.hash), event.pk])
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
