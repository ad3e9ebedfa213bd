"""The local account of a person who signed in at the identity provider."""

from django.conf import settings
from django.db import models


class Identity(models.Model):
    """Who a local user is at the IdP: (issuer, sub), never the email. The same email can
    exist at several tenants (issuers), and an email can change; sub cannot."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identity")
    issuer = models.CharField(max_length=255)
    subject = models.CharField(max_length=255)
    claims = models.JSONField(default=dict)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="one_user_per_iss_sub")]
