"""Finding or creating the local user for (issuer, sub)."""

from __future__ import annotations

import hashlib

from django.contrib.auth import get_user_model
from django.db import transaction
from rp_common.models import Identity


def user_for(issuer: str, claims: dict):
    """The local user of this person at this issuer, created on first sign-in; profile
    claims refreshed on every sign-in."""
    subject = claims["sub"]
    with transaction.atomic():
        identity = Identity.objects.select_related("user").filter(issuer=issuer, subject=subject).first()
        if identity is None:
            username = "oidc-" + hashlib.sha256(f"{issuer}|{subject}".encode()).hexdigest()[:24]
            user = get_user_model().objects.create_user(username=username)
            identity = Identity.objects.create(user=user, issuer=issuer, subject=subject)
        user = identity.user
        user.email = claims.get("email", "")
        user.first_name = claims.get("given_name", "")
        user.last_name = claims.get("family_name", "")
        user.save()
        identity.claims = claims
        identity.save(update_fields=["claims"])
    return user
