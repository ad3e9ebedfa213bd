"""App config for idp."""

from django.apps import AppConfig


class IdpConfig(AppConfig):
    name = "idp"
    label = "idp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_delete, post_save

        from idp.models import Application
        from idp.validators import clients

        def evict(sender, instance, **kwargs) -> None:
            clients.evict((instance.tenant_id, instance.client_id))

        post_save.connect(evict, sender=Application, weak=False, dispatch_uid="idp.evict")
        post_delete.connect(evict, sender=Application, weak=False, dispatch_uid="idp.evict.delete")
