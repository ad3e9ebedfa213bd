"""App config for audit."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit import services, signals
        from tenants import db

        signals.connect()
        db.savepoint_rollback_listeners.append(services._savepoint_rolled_back)
