"""Data keys for keyed digests (core.crypto), seeded from the KEK as the digests were made.

Until now client-secret digests, recovery-code digests and the audit chain's keyed links were
keyed by sub-keys derived from the KEK itself; a KEK rotation would have broken every one of
them. Each such sub-key is stored here, sealed under the KEK, so that from now on it outlives
the KEK: the values do not change, so everything made before verifies after.
"""

from django.db import migrations, models

# The keyed-digest purposes that existed when data keys were introduced (their `info` bytes).
PURPOSES = (b"tessera/audit-chain/v1", b"tessera/recovery-code/v1", b"tessera/client-secret-digest/v1")


def seed(apps, schema_editor):
    from core.conf import tessera_settings
    from core.crypto import DATA_KEY_PURPOSE, _decoded, _derive, seal

    if not tessera_settings.KEY_ENCRYPTION_KEY:
        return  # no KEK configured at migrate time: created on first use instead
    kek = _decoded(tessera_settings.KEY_ENCRYPTION_KEY)
    DataKey = apps.get_model("core", "DataKey")
    alias = schema_editor.connection.alias
    for info in PURPOSES:
        if not DataKey.objects.using(alias).filter(purpose=info.decode()).exists():
            DataKey.objects.using(alias).create(
                purpose=info.decode(), sealed=seal(_derive(kek, info), purpose=DATA_KEY_PURPOSE, associated_data=info))


class Migration(migrations.Migration):
    initial = True

    dependencies: list = []

    operations = [
        migrations.CreateModel(
            name="DataKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("purpose", models.CharField(max_length=100, unique=True)),
                ("sealed", models.BinaryField()),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("resealed", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.RunPython(seed, migrations.RunPython.noop),
    ]
