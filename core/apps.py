"""App config for core (it holds management commands and templates-free helpers only)."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.core import checks

        from core import metrics, security

        # issue 15: job runs and failures, and who may read /metrics in production
        metrics.count_celery_jobs()
        checks.register(metrics.check_metrics_access, deploy=True)
        # Production silences security.W003 (it knows CsrfViewMiddleware only by name): this
        # check stands in for it (a subclass counts).
        checks.register(security.check_csrf_middleware, deploy=True)
