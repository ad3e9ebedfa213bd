"""App config for idp."""

from django.apps import AppConfig


class IdpConfig(AppConfig):
    name = "idp"
    label = "idp"
    default_auto_field = "django.db.models.BigAutoField"
