"""Celery application. Tasks live in each app's tasks.py; every periodic job is scheduled
here, in one place (a job is also a ``manage.py`` command, and safe to run twice at once)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings.production")
app = Celery("tessera")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_finalize.connect
def schedule(sender: Celery, **kwargs) -> None:
    """The beat schedule, read from the settings once Django is set up."""
    from core.conf import tessera_settings

    sender.conf.beat_schedule = {
        # Expired tokens, spent codes, expired sessions, stale lockout counters (idp.cleanup).
        "cleanup-expired": {"task": "idp.tasks.cleanup_all_tenants",
                            "schedule": float(tessera_settings.CLEANUP_INTERVAL)},
        # Signing keys published, activated, retired and removed on their timeline (idp.rotation).
        "rotate-signing-keys": {"task": "idp.tasks.rotate_keys_all_tenants",
                                "schedule": float(tessera_settings.KEY_ROTATION_CHECK_INTERVAL)},
        # A signed checkpoint of every audit chain, and each tenant's retention (audit.retention).
        "audit-checkpoints-and-retention": {"task": "audit.tasks.maintain_all_tenants",
                                            "schedule": float(tessera_settings.AUDIT_MAINTENANCE_INTERVAL)},
        # Webhook deliveries whose task was lost (broker down, worker died mid-attempt).
        "sweep-webhook-deliveries": {"task": "audit.tasks.sweep_webhooks",
                                     "schedule": float(tessera_settings.WEBHOOK_SWEEP_INTERVAL)},
    }
