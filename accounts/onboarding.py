"""A new tenant with its first admin: what platform staff do to onboard an organisation.

The tenant is created by tenants.services.create_tenant (its signing keys, its audit chain);
its first user is created through the platform door (tenants.platform.platform_access, so the
tenant's own trail says who in the platform did it and why): a full admin with no usable
password and a one-time password-set link, the same single-use, expiring, tenant-bound link
as a password reset (accounts.tokens). The link is returned to the caller once; nothing
stores it. Everything happens in one transaction: a refused admin leaves no tenant behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from accounts import tokens
from accounts.services import create_user
from core.actors import Actor
from core.conf import tessera_settings
from tenants.context import issuer_for
from tenants.models import AdminRole, Tenant
from tenants.platform import platform_access
from tenants.services import create_tenant


@dataclass(frozen=True)
class NewTenant:
    """A tenant just created, its first admin, and the admin's one-time password-set link
    (shown once: it is a credential until it is used or expires)."""

    tenant: Tenant
    admin: Any
    password_link: str
    password_link_expires: datetime


def create_tenant_with_admin(slug: str, name: str, *, admin_username: str, admin_email: str, actor: Actor,
                             base_url: str | None = None) -> NewTenant:
    """Create tenant ``slug`` and its first full admin; raises ValidationError for the
    platform's reserved slug, a taken or malformed slug, or a refused username or email.

    ``base_url`` (the request's own, ``https://host/``) makes the link absolute when
    TESSERA_PUBLIC_URL is not set.
    """
    if slug == tessera_settings.PLATFORM_TENANT:
        raise ValidationError({"slug": f"{slug!r} is reserved for the platform tenant."})
    with transaction.atomic():
        tenant = create_tenant(slug, name, actor=actor)
        reason = f"create the first admin {admin_username!r} of the new tenant {slug!r}"
        with platform_access(tenant, reason=reason, actor=actor):
            # No password: the admin sets one through the link (user.created records the role).
            admin = create_user(username=admin_username, email=admin_email, password=None,
                                admin_role=AdminRole.FULL, actor=actor)
            link = _password_set_link(tenant, admin, base_url)
    expires = timezone.now() + timedelta(seconds=settings.TESSERA_PASSWORD_RESET_TIMEOUT)
    return NewTenant(tenant=tenant, admin=admin, password_link=link, password_link_expires=expires)


def _password_set_link(tenant: Tenant, user: Any, base_url: str | None) -> str:
    """The password-reset link of ``user`` (accounts.password_reset.confirm_view), absolute."""
    path = reverse("accounts:password-reset-confirm", kwargs={
        "tenant": tenant.slug, "uidb64": urlsafe_base64_encode(force_bytes(user.uid.hex)),
        "token": tokens.password_reset.make_token(user)})
    return issuer_for(tenant, base_url).rsplit("/t/", 1)[0] + path
