"""Webhook subscriptions and their deliveries (the outbox), under row-level security; the new actions."""

import django.db.models.deletion
import django.db.models.manager
import uuid
from django.db import migrations, models

from tenants.rls import TenantForeignKey, TenantKey, TenantRLS


class Migration(migrations.Migration):

    dependencies = [
        ('audit', '0009_kek_resealed_action'),
        ('tenants', '0007_audit_retention'),
    ]

    operations = [
        migrations.AlterField(
            model_name='auditevent',
            name='action',
            field=models.CharField(choices=[('auth.login.succeeded', 'Sign-in succeeded'), ('auth.login.failed', 'Sign-in failed'), ('auth.logout', 'Signed out'), ('auth.logout.refused', 'Sign-out request refused'), ('auth.locked_out', 'Sign-in locked after repeated failures'), ('auth.unlocked', 'Sign-in lock cleared'), ('auth.session_revoked', 'Session ended by its user'), ('auth.signed_out_everywhere', 'Every session and token revoked by the user'), ('authorization.refused', 'Authorization request refused'), ('consent.granted', 'Consent granted'), ('consent.revoked', 'Consent revoked by the user'), ('token.issued', 'Token issued'), ('token.refreshed', 'Token refreshed'), ('token.revoked', 'Token revoked'), ('token.reuse_detected', 'Code or refresh token reused; family revoked'), ('client.created', 'Client created'), ('client.updated', 'Client changed'), ('client.deleted', 'Client deleted'), ('client.authentication_failed', 'Client authentication failed'), ('user.created', 'User created'), ('user.updated', 'User changed'), ('user.password_changed', 'Password changed'), ('user.password_reset_requested', 'Password reset requested'), ('user.email_verification_sent', 'Email verification sent'), ('user.email_verified', 'Email address verified'), ('user.email_sent', 'Email sent to the user'), ('user.registered', 'User registered'), ('mfa.enrolled', 'Second factor enrolled'), ('mfa.removed', 'Second factor removed'), ('mfa.recovery_codes_generated', 'Recovery codes generated'), ('mfa.verified', 'Second factor verified'), ('mfa.failed', 'Second factor refused'), ('mfa.step_up', 'Step-up to multi-factor requested'), ('auth.risk_step_up', 'Sign-in stepped up for its risk score'), ('tenant.created', 'Tenant created'), ('key.created', 'Signing key created'), ('key.state_changed', 'Signing key state changed'), ('key.kek_resealed', 'Secrets re-sealed under a new key-encryption key'), ('admin.action', 'Admin action'), ('tenant.policy_updated', 'Security policy changed'), ('tenant.updated', 'Tenant changed'), ('user.deactivated', 'User deactivated'), ('user.reactivated', 'User reactivated'), ('user.locked', 'User locked by an admin'), ('user.unlocked', 'User unlocked by an admin'), ('mfa.reset', 'Second factors reset by an admin'), ('auth.sessions_revoked', 'Sessions ended by an admin'), ('audit.exported', 'Audit trail exported'), ('platform.access', 'Platform-level access to a tenant'), ('audit.purged', 'Audit events past retention purged'), ('webhook.created', 'Webhook subscription created'), ('webhook.updated', 'Webhook subscription changed'), ('webhook.deleted', 'Webhook subscription deleted'), ('webhook.secret_rotated', 'Webhook signing secret replaced'), ('webhook.redelivered', 'Webhook delivery sent again')], max_length=64),
        ),
        migrations.CreateModel(
            name='WebhookSubscription',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('url', models.URLField(help_text='https:// only; never a private or loopback address.', max_length=2000)),
                ('actions', models.JSONField(default=list, help_text='Action names, prefixes such as "token.*", or "*".')),
                ('description', models.CharField(blank=True, default='', max_length=200)),
                ('is_active', models.BooleanField(default=True)),
                ('sealed_secret', models.BinaryField(help_text='The signing secret, sealed (core.crypto).')),
                ('created', models.DateTimeField(auto_now_add=True)),
                ('updated', models.DateTimeField(auto_now=True)),
                ('tenant', models.ForeignKey(editable=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant')),
            ],
            options={
                'ordering': ['tenant', 'id'],
                'base_manager_name': 'unscoped',
            },
            managers=[
                ('objects', django.db.models.manager.Manager()),
                ('unscoped', django.db.models.manager.Manager()),
            ],
        ),
        migrations.CreateModel(
            name='WebhookDelivery',
            fields=[
                ('id', models.UUIDField(default=uuid.uuid4, editable=False, primary_key=True, serialize=False)),
                ('seq', models.BigIntegerField(help_text="The event's position in the tenant's chain.")),
                ('action', models.CharField(max_length=64)),
                ('payload', models.JSONField(help_text='The event as the export shows it (sanitised: never a secret).')),
                ('status', models.CharField(choices=[('pending', 'Pending'), ('delivered', 'Delivered'), ('failed', 'Failed')], default='pending', max_length=16)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('next_attempt_at', models.DateTimeField(help_text='When a pending delivery is (next) due.')),
                ('last_status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('last_error', models.CharField(blank=True, default='', max_length=200)),
                ('created', models.DateTimeField()),
                ('delivered_at', models.DateTimeField(blank=True, null=True)),
                ('tenant', models.ForeignKey(editable=False, on_delete=django.db.models.deletion.CASCADE, related_name='+', to='tenants.tenant')),
                ('subscription', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='audit.webhooksubscription')),
            ],
            options={
                'ordering': ['tenant', '-created'],
                'base_manager_name': 'unscoped',
                'indexes': [models.Index(condition=models.Q(('status', 'pending')), fields=['tenant', 'next_attempt_at'], name='audit_webhook_due'), models.Index(fields=['subscription', 'created'], name='audit_webhook_by_subscription')],
            },
            managers=[
                ('objects', django.db.models.manager.Manager()),
                ('unscoped', django.db.models.manager.Manager()),
            ],
        ),
        TenantRLS("audit_webhooksubscription"),
        TenantRLS("audit_webhookdelivery"),
        TenantKey("audit_webhooksubscription"),
        TenantForeignKey("audit_webhookdelivery", "subscription_id", "audit_webhooksubscription"),
    ]
