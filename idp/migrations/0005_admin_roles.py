"""Clients given the admin API's scopes."""

import idp.models
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('idp', '0004_signing_key_rotation'),
    ]

    operations = [
        migrations.AddField(
            model_name='application',
            name='admin_scopes',
            field=models.JSONField(blank=True, default=list, help_text='Admin API scopes this client may request: admin:read, admin:write.', validators=[idp.models.validate_admin_scopes]),
        ),
    ]
