"""App config for audit."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from audit import recording, signals, spool
        from tenants import db, roles

        signals.connect()
        # The application role reads and appends; it never changes or removes history, and
        # never deletes the chain head (roles.grant_app_role applies this after migrate).
        roles.restrict_app_role("audit_auditevent", keep=("SELECT", "INSERT"))
        roles.restrict_app_role("audit_checkpoint", keep=("SELECT", "INSERT"))
        roles.restrict_app_role("audit_chainhead", keep=("SELECT", "INSERT", "UPDATE"))
        checks.register(spool.check_durability, deploy=True)
        db.savepoint_rollback_listeners.append(recording.savepoint_rolled_back)
        # issue 15: the spool's backlog, read at each scrape of /metrics
        from audit import metrics as audit_metrics
        from core.metrics import register_collector

        register_collector("audit_spool", audit_metrics.spool_backlog)
