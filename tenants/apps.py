"""App config for tenants."""

from django.apps import AppConfig


class TenantsConfig(AppConfig):
    name = "tenants"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_migrate, post_save

        from tenants import db, roles

        db.connect()  # PostgreSQL connections keep app.tenant_id equal to the tenant context
        post_migrate.connect(
            lambda sender, using="default", **kw: roles.grant_app_role(using),
            sender=self, weak=False, dispatch_uid="tenants.grant_app_role",
        )

        from tenants.middleware import active_tenants
        from tenants.models import Tenant

        def evict(sender, instance, **kwargs) -> None:
            active_tenants.evict(instance.slug)

        post_save.connect(evict, sender=Tenant, weak=False, dispatch_uid="tenants.evict")

        from tenants.models import SecurityPolicy
        from tenants.services import security_policies

        def evict_policy(sender, instance, **kwargs) -> None:
            security_policies.evict(instance.tenant_id)

        post_save.connect(evict_policy, sender=SecurityPolicy, weak=False, dispatch_uid="tenants.evict_policy")
        post_delete.connect(evict_policy, sender=SecurityPolicy, weak=False,
                            dispatch_uid="tenants.evict_policy.delete")
        post_delete.connect(evict, sender=Tenant, weak=False, dispatch_uid="tenants.evict.delete")
