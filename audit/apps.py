"""App config for audit."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from audit import services, signals, spool
        from tenants import db

        signals.connect()
        checks.register(spool.check_durability, deploy=True)
        db.savepoint_rollback_listeners.append(services._savepoint_rolled_back)
